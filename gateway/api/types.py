"""Type aliases for the HTTP layer."""

from typing import Any, TypeAlias

from litestar import Request

HttpRequest: TypeAlias = Request[Any, Any, Any]
