"""The `imagegate` command: serve, check-config (and the signing client's commands)."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gateway.config import ConfigError, RoutingConfig, load_config

if TYPE_CHECKING:
    from gateway.client import Signer

# The client commands talk to IMAGEGATE_URL, else the local `imagegate serve` (IMAGEGATE_PORT or 8000).
DEFAULT_BASE_URL = (
    os.environ.get("IMAGEGATE_URL") or f"http://127.0.0.1:{os.environ.get('IMAGEGATE_PORT', '8000')}"
)
DEFAULT_SIGN_URL = f"{DEFAULT_BASE_URL.rstrip('/')}/api/v1/image/generate"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imagegate", description="imagegate image-generation gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="routing YAML (default: the bundled one; env IMAGEGATE_CONFIG)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1; env IMAGEGATE_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000; env IMAGEGATE_PORT)")
    serve.add_argument(
        "--workers",
        type=int,
        help="worker processes (default 1; env IMAGEGATE_WORKERS; > 1 needs REDIS_URL when auth is on)",
    )
    serve.add_argument("--log-level", help="debug | info | warning (default info)")
    serve.set_defaults(run=_serve)

    check = commands.add_parser("check-config", help="validate a routing YAML and print its routes")
    check.add_argument("file", nargs="?", help="routing YAML (default: the bundled one)")
    check.set_defaults(run=_check_config)

    keys = commands.add_parser("keys", help="operator API keys (auth.api_keys in the routing YAML)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="print a new secret (first line) and its YAML entry")
    create.add_argument("name", help="the key's name (letters, digits, _ . -)")
    create.set_defaults(run=_keys_create)

    _add_client_commands(commands)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


def _keys_create(args: argparse.Namespace) -> int:
    import msgspec

    from gateway.auth.api_keys import digest, key_entry, new_secret
    from gateway.config.auth import ApiKeyConfig

    secret = new_secret()
    try:
        msgspec.convert({"name": args.name, "sha256": digest(secret)}, ApiKeyConfig)
    except msgspec.ValidationError as exc:
        print(f"imagegate keys create: {exc}", file=sys.stderr)
        return 2
    # The secret alone on the first line (scripts read it with `head -1`); it is shown only here.
    print(secret)
    print("# paste under auth: api_keys: in the routing YAML, then reload; store the secret above now")
    print("  api_keys:")
    print(key_entry(args.name, secret), end="")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import msgspec
    import uvicorn

    from gateway.settings import Settings

    try:
        settings = Settings.from_env(
            config_path=args.config,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
        )
    except msgspec.ValidationError as exc:  # e.g. "Expected `int` <= 65535 - at `$.port`"
        sys.stderr.write(f"error: invalid server setting: {exc} (flag or IMAGEGATE_* variable)\n")
        return 2
    _configure_logging(settings.log_level)
    try:
        config = load_config(settings.config_path)  # fail fast, before any worker starts
        _describe(config, settings.config_path, quiet=True)  # adapter settings too
    except ConfigError as exc:
        logging.getLogger("imagegate").error("invalid routing config: %s", exc)
        return 2
    if settings.workers > 1 and not settings.redis_url and config.auth.enabled:
        # Each worker would hold its own replay store: a single-use header would pass once per worker.
        logging.getLogger("imagegate").error(
            "--workers > 1 with auth on needs REDIS_URL (shared replay store)"
        )
        return 2
    # Workers re-create the app from the environment: pass the resolved settings down that way.
    os.environ["IMAGEGATE_HOST"], os.environ["IMAGEGATE_PORT"] = settings.host, str(settings.port)
    if settings.config_path:
        os.environ["IMAGEGATE_CONFIG"] = os.path.abspath(settings.config_path)
    _multiprocess_metrics_dir(settings.workers)
    from gateway.edge import uvicorn_options  # after the metrics dir: it imports gateway.metrics

    uvicorn.run(
        "gateway.asgi:create_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,
        **uvicorn_options(config.server),  # h11 + header/body/send timeouts and caps (gateway/edge.py)
    )
    return 0


def _multiprocess_metrics_dir(workers: int) -> None:
    """With several workers each writes its metrics to files in a fresh directory that /metrics
    aggregates. Set before any worker imports gateway.metrics (workers inherit the environment)."""
    if workers <= 1:
        return
    path = tempfile.mkdtemp(prefix="imagegate-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    atexit.register(shutil.rmtree, path, True)


def _describe(config: RoutingConfig, source: str | None, *, quiet: bool = False) -> list[str]:
    """The resolved routes; builds the adapters, so their settings are checked (ConfigError names
    the file). `quiet`: no warnings logged (serve's workers log them when they build the same)."""
    import asyncio

    from gateway.config.describe import describe_sections
    from gateway.routing.report import describe_config

    logging.disable(logging.WARNING if quiet else logging.NOTSET)
    try:
        return asyncio.run(describe_config(config)) + describe_sections(config)
    except ConfigError as exc:
        raise ConfigError(exc.path, exc.message, source=source or "bundled default") from exc
    finally:
        logging.disable(logging.NOTSET)


def _check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
        lines = _describe(config, args.file)
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(f"ok: {args.file or 'bundled default'}\n" + "".join(f"{line}\n" for line in lines))
    return 0


def _add_client_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        command.add_argument("--evm-key", default=os.environ.get("IMAGEGATE_EVM_KEY"), help="hex key")
        command.add_argument(
            "--solana-key",
            default=os.environ.get("IMAGEGATE_SOLANA_KEY"),
            help="base58 secret or keygen .json",
        )
        command.add_argument(
            "--chain", help="Chain ID as written in the message (default 1 / Solana mainnet)"
        )
    sign.set_defaults(run=_sign)
    generate.set_defaults(run=_generate)


def _signer(args: argparse.Namespace) -> Signer | None:
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

    signer = _signer(args)
    if signer is None:
        return 2
    sys.stdout.write(sign_header(args.url, signer) + "\n")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    import httpx

    from gateway.client import GatewayCallError, generate_images, wait_until_up

    signer = _signer(args)
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


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
