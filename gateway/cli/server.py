"""`imagegate serve` and `imagegate check-config`."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import shutil
import sys
import tempfile

from gateway.config import ConfigError, RoutingConfig, load_config


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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

    from gateway.config.cost_report import describe_prices
    from gateway.config.describe import describe_sections
    from gateway.routing.report import describe_config

    logging.disable(logging.WARNING if quiet else logging.NOTSET)
    try:
        return asyncio.run(describe_config(config)) + describe_sections(config) + describe_prices(config)
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


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
