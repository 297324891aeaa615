"""Cancel a request's upstream work when its client goes away.

ASGI servers do not cancel a handler when the client disconnects; they deliver `http.disconnect`
on `receive`. Once the body has been read, we watch `receive` while the work runs: a disconnect
cancels the work (the executor's TaskGroup then cancels every shard, poll and retry wait), so no
upstream call or polling loop is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from litestar.types import Receive

from gateway.errors import GatewayError

T = TypeVar("T")


class ClientDisconnected(GatewayError):
    """Nobody is left to read this; nginx's 499 marks it in logs."""

    status_code = 499
    code = "client_closed_request"


async def cancel_on_disconnect(receive: Receive, work: Coroutine[Any, Any, T]) -> T:
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_until_disconnect(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher
    if task.cancelled():
        raise ClientDisconnected("the client closed the connection")
    return task.result()


async def _until_disconnect(receive: Receive) -> None:
    while True:
        try:
            message = await receive()
        except Exception:  # a server that cannot tell us: never cancel on a guess
            await asyncio.Event().wait()
            return
        if message["type"] == "http.disconnect":
            return
