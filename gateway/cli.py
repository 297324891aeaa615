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
    _multiprocess_metrics_dir(settings.workers)
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


def _multiprocess_metrics_dir(workers: int) -> None:
    """With several workers each writes its metrics to files in a fresh directory that /metrics
    aggregates. Set before any worker imports gateway.metrics (workers inherit the environment)."""
    if workers <= 1:
        return
    path = tempfile.mkdtemp(prefix="imagegate-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    atexit.register(shutil.rmtree, path, True)


def _check_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    out = sys.stdout
    out.write(f"ok: {args.file or 'bundled default'}\n")
    for name, provider in config.providers.items():
        out.write(f"provider {name}: adapter={provider.adapter}\n")
    for slug, model in config.models.items():
        aliases = f" (aliases: {', '.join(model.aliases)})" if model.aliases else ""
        chain = " -> ".join(f"{d.provider}/{d.model}" for d in model.deployments)
        out.write(f"model {slug}{aliases}: {chain}\n")
    return 0


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
