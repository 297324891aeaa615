"""ASGI entry for uvicorn workers: `uvicorn --factory gateway.asgi:create_from_env`."""

from __future__ import annotations

from litestar import Litestar

from gateway.app import create_app
from gateway.process_tuning import keep_freed_buffers, settle_garbage_collector
from gateway.settings import Settings


def create_from_env() -> Litestar:
    keep_freed_buffers()  # in each worker process: they are fresh interpreters
    app = create_app(Settings.from_env())
    settle_garbage_collector()
    return app
