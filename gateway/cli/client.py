"""The signing client's commands: `imagegate sign` and `imagegate generate`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.client import Signer

# The client commands talk to IMAGEGATE_URL, else the local `imagegate serve` (IMAGEGATE_PORT or 8000).
DEFAULT_BASE_URL = (
    os.environ.get("IMAGEGATE_URL") or f"http://127.0.0.1:{os.environ.get('IMAGEGATE_PORT', '8000')}"
)
DEFAULT_SIGN_URL = f"{DEFAULT_BASE_URL.rstrip('/')}/api/v1/image/generate"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sign = commands.add_parser("sign", help="print a Sign-In-With-X header value for one request")
    sign.add_argument("--url", default=DEFAULT_SIGN_URL, help=f"request URL (default {DEFAULT_SIGN_URL})")
    sign.add_argument(
        "--issued-nonce", action="store_true", help="use a nonce from the gateway's GET /api/v1/auth/nonce"
    )
    generate = commands.add_parser("generate", help="send a signed generate request and save the images")
    generate.add_argument("prompt")
    generate.add_argument(
        "--url",
        default=DEFAULT_BASE_URL,
        help=f"gateway base URL (default {DEFAULT_BASE_URL}; env IMAGEGATE_URL)",
    )
    generate.add_argument("--model", default="mock-image")
    generate.add_argument("-n", type=int, default=1)
    generate.add_argument("--width", type=int)
    generate.add_argument("--height", type=int)
    generate.add_argument("--format", dest="output_format", choices=["png", "jpeg", "webp"])
    generate.add_argument("--seed", type=int)
    generate.add_argument("--out-dir", default=".", help="where to save the images (default .)")
    generate.add_argument("--issued-nonce", action="store_true", help="ask the gateway for the nonce")
    generate.add_argument("--stream", action="store_true", help="stream the answer, with a progress bar")
    generate.add_argument("--async", dest="run_async", action="store_true", help="as a job: print its id, follow it")
    for command in (sign, generate):
        add_signer_arguments(command)
    sign.set_defaults(run=_sign)
    generate.set_defaults(run=_generate)


def add_signer_arguments(command: argparse.ArgumentParser) -> None:
    """--evm-key / --solana-key / --chain, for every command that signs (`signer_from_args`)."""
    command.add_argument("--evm-key", default=os.environ.get("IMAGEGATE_EVM_KEY"), help="hex key")
    command.add_argument(
        "--solana-key",
        default=os.environ.get("IMAGEGATE_SOLANA_KEY"),
        help="base58 secret or keygen .json",
    )
    command.add_argument("--chain", help="Chain ID as written in the message (default 1 / Solana mainnet)")


def signer_from_args(args: argparse.Namespace) -> Signer | None:
    """The signer for --evm-key / --solana-key, or None after one error line: a mistyped key is a
    usage error, not a traceback (whose library message may quote characters of the secret)."""
    from gateway.client import load_signer

    if args.evm_key and args.solana_key:
        sys.stderr.write(
            "error: give --evm-key or --solana-key, not both (check IMAGEGATE_EVM_KEY / IMAGEGATE_SOLANA_KEY)\n"
        )
        return None
    key = args.solana_key or ""
    if key.endswith(".json") and not os.path.isfile(key):
        sys.stderr.write(
            f"error: --solana-key: no such key file: {key} (create one with solana-keygen new -o {key})\n"
        )
        return None
    try:
        return load_signer(evm_key=args.evm_key, solana_key=args.solana_key, chain_id=args.chain)
    except (ValueError, TypeError, OSError) as exc:
        hint = (
            "a base58 secret (32-byte seed or 64-byte keypair) or a solana-keygen .json file"
            if args.solana_key
            else "64 hex digits, 0x optional"
        )
        which = "--solana-key" if args.solana_key else "--evm-key"
        sys.stderr.write(f"error: {which} is not a valid key ({type(exc).__name__}); expected {hint}\n")
        return None


def url_problem(url: str) -> str | None:
    """Why --url cannot be used (one error line instead of a traceback from deep inside httpx), else None."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        return f"--url {url!r} is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"--url {url!r} is not a valid URL (an http:// or https:// URL with a host)"
    return None


def writable_dir(path: str) -> str | None:
    """None when images can be saved under `path` (created if missing); else the one-line reason.
    Checked before the request is sent: a generation is billed whether or not we can save it."""
    import tempfile

    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return f"--out-dir {path}: cannot write there ({exc.strerror or type(exc).__name__})"
    return None


def _sign(args: argparse.Namespace) -> int:
    from urllib.parse import urlsplit

    import httpx

    from gateway.client import fetch_issued_nonce, sign_header

    if problem := url_problem(args.url):
        sys.stderr.write(f"error: {problem}\n")
        return 2
    signer = signer_from_args(args)
    if signer is None:
        return 2
    nonce = None
    if args.issued_nonce:
        parts = urlsplit(args.url)
        base = f"{parts.scheme}://{parts.netloc}"
        try:
            with httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
                nonce = fetch_issued_nonce(base, client)
        except httpx.HTTPStatusError as exc:
            why = (
                "it does not issue nonces (auth.require_issued_nonce is false)"
                if exc.response.status_code == 404
                else f"HTTP {exc.response.status_code}"
            )
            sys.stderr.write(f"error: --issued-nonce: {base} refused GET /api/v1/auth/nonce: {why}\n")
            return 1
        except httpx.HTTPError as exc:
            sys.stderr.write(f"error: --issued-nonce: cannot reach {base} ({type(exc).__name__})\n")
            return 1
    sys.stdout.write(sign_header(args.url, signer, nonce=nonce) + "\n")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    import httpx

    from gateway.client import GatewayCallError, generate_images, wait_until_up

    if problem := url_problem(args.url):
        sys.stderr.write(f"error: {problem}\n")
        return 2
    signer = signer_from_args(args)
    if signer is None:
        return 2
    problem = writable_dir(args.out_dir)
    if problem is not None:
        sys.stderr.write(f"error: {problem}\n")
        return 2
    body: dict[str, object] = {"model": args.model, "prompt": args.prompt, "n": args.n}
    for name in ("width", "height", "output_format", "seed"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.stream:
        body["stream"] = True
    if args.run_async:  # gateway/cli/jobs.py
        from gateway.cli.jobs import run_async

        return run_async(args, body, signer)
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
            )
    except httpx.ConnectError:
        sys.stderr.write(
            f"error: cannot reach the gateway at {args.url} (start it with imagegate serve, or set --url / IMAGEGATE_URL)\n"
        )
        return 1
    except (GatewayCallError, httpx.HTTPError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except OSError as exc:  # the directory went away or filled up after the check
        sys.stderr.write(f"error: --out-dir {args.out_dir}: cannot save the images ({exc.strerror})\n")
        return 1
    sys.stdout.write("".join(f"{path}\n" for path in paths))
    if len(paths) < args.n:  # status: partial — say so, and let scripts notice
        sys.stderr.write(f"warning: only {len(paths)} of {args.n} images were produced (status: partial)\n")
        return 3
    return 0
