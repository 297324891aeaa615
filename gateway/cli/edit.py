"""`imagegate edit IMAGE... --prompt P [--mask M]`: a signed POST /api/v1/image/edit; saves the images.

Each IMAGE (and the mask) is a local file, sent as a data URL typed from its bytes, or an https URL
the gateway fetches. Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

from gateway.cli.client import (
    DEFAULT_BASE_URL,
    add_signer_arguments,
    signer_from_args,
    url_problem,
    writable_dir,
)

_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    edit = commands.add_parser("edit", help="send a signed edit request and save the edited images")
    edit.add_argument("images", nargs="+", metavar="IMAGE", help="files or https URLs; the first is the base")
    edit.add_argument("--prompt", required=True)
    edit.add_argument("--mask", help="PNG whose transparent pixels mark the area to edit (file or https URL)")
    edit.add_argument(
        "--url",
        default=DEFAULT_BASE_URL,
        help=f"gateway base URL (default {DEFAULT_BASE_URL}; env IMAGEGATE_URL)",
    )
    edit.add_argument("--model", default="mock-image")
    edit.add_argument("-n", type=int, default=1)
    edit.add_argument("--width", type=int)
    edit.add_argument("--height", type=int)
    edit.add_argument("--format", dest="output_format", choices=["png", "jpeg", "webp"])
    edit.add_argument("--seed", type=int)
    edit.add_argument("--strength", type=float, help="0..1: how far the result may move from the base")
    edit.add_argument("--out-dir", default=".", help="where to save the images (default .)")
    edit.add_argument("--issued-nonce", action="store_true", help="ask the gateway for the nonce")
    edit.add_argument("--stream", action="store_true", help="stream the answer, with a progress bar")
    add_signer_arguments(edit)
    edit.set_defaults(run=_edit)


class SourceError(ValueError):
    """An IMAGE or --mask argument that cannot be sent."""


def image_source(argument: str) -> dict[str, str]:
    """`{"url": ...}` for an https URL, else `{"b64": data URL}` of the file, typed from its bytes."""
    if argument.startswith("https://"):
        return {"url": argument}
    if "://" in argument:
        raise SourceError(f"{argument}: only https URLs or local files")
    try:
        data = Path(argument).read_bytes()
    except OSError as exc:
        raise SourceError(f"{argument}: {exc.strerror or type(exc).__name__}") from None
    media_type = next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)
    if media_type is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        media_type = "image/webp"
    if media_type is None:
        raise SourceError(f"{argument}: not a PNG, JPEG or WebP image")
    return {"b64": f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"}


def _edit(args: argparse.Namespace) -> int:
    import httpx

    from gateway.client import EDIT_PATH, GatewayCallError, generate_images, wait_until_up

    if problem := url_problem(args.url):
        sys.stderr.write(f"error: {problem}\n")
        return 2
    signer = signer_from_args(args)
    if signer is None:
        return 2
    problem = writable_dir(args.out_dir)  # before the request: an edit is billed whether or not we can save it
    if problem is not None:
        sys.stderr.write(f"error: {problem}\n")
        return 2
    try:
        images = [image_source(argument) for argument in args.images]
        mask = None if args.mask is None else image_source(args.mask)
    except SourceError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    body: dict[str, object] = {"model": args.model, "prompt": args.prompt, "n": args.n, "images": images}
    if mask is not None:
        body["mask"] = mask
    for name in ("width", "height", "output_format", "seed", "strength"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.stream:
        body["stream"] = True
    try:
        with httpx.Client(timeout=httpx.Timeout(300.0, connect=5.0)) as client:
            wait_until_up(args.url, client)
            paths = generate_images(
                args.url,
                body,
                signer,
                Path(args.out_dir),
                client=client,
                issued_nonce=args.issued_nonce,
                progress=sys.stderr if args.stream else None,
                endpoint=EDIT_PATH,
            )
    except (GatewayCallError, httpx.HTTPError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write("".join(f"{path}\n" for path in paths))
    if len(paths) < args.n:
        sys.stderr.write(f"warning: only {len(paths)} of {args.n} images were produced (status: partial)\n")
        return 3
    return 0
