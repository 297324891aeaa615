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

    try:
        return load_signer(evm_key=args.evm_key, solana_key=args.solana_key, chain_id=args.chain)
    except (ValueError, TypeError, OSError) as exc:
        which = "--solana-key" if args.solana_key else "--evm-key"
        reason = "give an EVM key or a Solana key, not both" if args.evm_key and args.solana_key else None
        sys.stderr.write(f"error: {reason or f'{which} is not a valid key ({type(exc).__name__})'}\n")
        return None


def _sign(args: argparse.Namespace) -> int:
    from gateway.client import sign_header

    signer = signer_from_args(args)
    if signer is None:
        return 2
    sys.stdout.write(sign_header(args.url, signer) + "\n")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    import httpx

    from gateway.client import GatewayCallError, generate_images, wait_until_up

    signer = signer_from_args(args)
    if signer is None:
        return 2
    body: dict[str, object] = {"model": args.model, "prompt": args.prompt, "n": args.n}
    for name in ("width", "height", "output_format", "seed"):
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
            )
    except (GatewayCallError, httpx.HTTPError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write("".join(f"{path}\n" for path in paths))
    if len(paths) < args.n:  # status: partial — say so, and let scripts notice
        sys.stderr.write(f"warning: only {len(paths)} of {args.n} images were produced (status: partial)\n")
        return 3
    return 0
