"""The `imagegate` command: serve, check-config (and the signing client's commands)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from gateway.config import ConfigError, load_config


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="imagegate", description="imagegate image-generation gateway")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", help="routing YAML (default: the bundled one; env IMAGEGATE_CONFIG)")
    serve.add_argument("--host", help="bind address (default 127.0.0.1; env IMAGEGATE_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8000; env IMAGEGATE_PORT)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1; env IMAGEGATE_WORKERS)")
    serve.add_argument("--log-level", help="debug | info | warning (default info)")
    serve.set_defaults(run=_serve)

    check = commands.add_parser("check-config", help="validate a routing YAML and print its routes")
    check.add_argument("file", nargs="?", help="routing YAML (default: the bundled one)")
    check.set_defaults(run=_check_config)

    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.settings import Settings

    settings = Settings.from_env(
        config_path=args.config,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
    )
    _configure_logging(settings.log_level)
    try:
        load_config(settings.config_path)  # fail fast, before any worker starts
    except ConfigError as exc:
        logging.getLogger("imagegate").error("invalid routing config: %s", exc)
        return 2
    # Workers re-create the app from the environment: pass the resolved settings down that way.
    os.environ["IMAGEGATE_HOST"], os.environ["IMAGEGATE_PORT"] = settings.host, str(settings.port)
    if settings.config_path:
        os.environ["IMAGEGATE_CONFIG"] = os.path.abspath(settings.config_path)
    uvicorn.run(
        "gateway.asgi:create_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,
    )
    return 0


def _check_config(args: argparse.Namespace) -> int:
    import asyncio

    from gateway.routing.report import describe_config

    try:
        config = load_config(args.file)
        lines = asyncio.run(describe_config(config))
    except ConfigError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(f"ok: {args.file or 'bundled default'}\n" + "".join(f"{line}\n" for line in lines))
    return 0


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
