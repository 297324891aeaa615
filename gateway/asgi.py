"""ASGI entry for uvicorn workers: `uvicorn --factory gateway.asgi:create_from_env`."""

from __future__ import annotations

from litestar import Litestar

from gateway.app import create_app
from gateway.settings import Settings


def create_from_env() -> Litestar:
    return create_app(Settings.from_env())
