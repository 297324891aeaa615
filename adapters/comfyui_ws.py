"""ComfyUI's websocket (`/ws?clientId=…`), read for one prompt: progress, previews, the end.

Text frames are JSON `{"type", "data"}`; the ones about a prompt carry `data.prompt_id`. Binary frames
are previews: a 4-byte big-endian event type (1 = PREVIEW_IMAGE), a 4-byte image type (1 = JPEG,
2 = PNG), then the image. Previews name no prompt, so one counts as ours only while the last
`executing`/`progress` message was about our prompt and it has not finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import httpx
import msgspec

from gateway.canonical import PreviewImage, ProgressUpdate, Report

PREVIEW_IMAGE = 1
MAX_FRAME_BYTES = 32 * 1024 * 1024
_IMAGE_TYPES = {1: "jpeg", 2: "png"}


class _Message(msgspec.Struct, frozen=True):
    type: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)


_DECODER = msgspec.json.Decoder(_Message)


class PromptTracker:
    """State of one prompt as seen on the websocket. Feed it frames; read `done`, `error`, `started`."""

    def __init__(self, prompt_id: str) -> None:
        self.prompt_id = prompt_id
        self.started = False  # our prompt began executing (so an interrupt would hit ours)
        self.done = False
        self.error: str | None = None  # set when our prompt failed or was interrupted
        self._current: str | None = None  # prompt of the last executing/progress message

    def on_text(self, text: str) -> ProgressUpdate | None:
        try:
            message = _DECODER.decode(text)
        except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deep
            return None  # not ours to judge; the history call decides the outcome
        data = message.data
        ours = data.get("prompt_id") == self.prompt_id
        if message.type in ("executing", "progress"):
            self._current = data.get("prompt_id")
        if not ours:
            return None
        return self._on_ours(message.type, data)

    def on_binary(self, frame: bytes) -> PreviewImage | None:
        if len(frame) < 8 or self._current != self.prompt_id or self.done:
            return None
        event, image_type = struct.unpack(">II", frame[:8])
        if event != PREVIEW_IMAGE or image_type not in _IMAGE_TYPES:
            return None
        return PreviewImage(data=frame[8:])

    def _on_ours(self, kind: str, data: dict[str, Any]) -> ProgressUpdate | None:
        if kind in ("execution_start", "executing", "progress", "execution_cached"):
            self.started = True
        if (kind == "executing" and data.get("node") is None) or kind == "execution_success":
            self.done = True
        elif kind == "execution_error":
            self.done = True
            self.error = f"{data.get('node_type', 'node')} failed: {data.get('exception_type', 'error')}"
        elif kind == "execution_interrupted":
            self.done = True
            self.error = "the prompt was interrupted on the server"
        elif kind == "progress":
            value, total = data.get("value"), data.get("max")
            if isinstance(value, int) and isinstance(total, int) and total > 0:
                return ProgressUpdate(step=value, total_steps=total)
        return None


def preview_frame(image: bytes, image_type: int = 1) -> bytes:
    """A binary preview frame as ComfyUI sends it (used by fakes and tests)."""
    return struct.pack(">II", PREVIEW_IMAGE, image_type) + image


class WebSocket(Protocol):
    async def recv(self) -> str | bytes: ...

    async def close(self) -> None: ...


Connect = Callable[[str], Awaitable[WebSocket]]


async def connect(url: str) -> WebSocket:
    """The real websocket (the `websockets` package); local servers only, so no proxy or auth."""
    from websockets.asyncio.client import connect as ws_connect

    return await ws_connect(url, max_size=MAX_FRAME_BYTES, open_timeout=5)


def ws_url(base_url: str, client_id: str) -> str:
    url = httpx.URL(base_url.rstrip("/") + "/ws")
    scheme = "wss" if url.scheme == "https" else "ws"
    return str(url.copy_with(scheme=scheme, params={"clientId": client_id}))


Queue = Callable[[str], Awaitable[dict[str, Any]]]  # client id -> the /prompt answer (has prompt_id)
Withdraw = Callable[[str, bool], Awaitable[None]]  # prompt id, running -> interrupt or dequeue it


async def queue_watched(
    connect: Connect, base_url: str, queue: Queue, withdraw: Withdraw, report: Report
) -> dict[str, Any]:
    """Open the websocket first (so no message is missed), `queue` the prompt under its client id,
    relay progress and previews until it ends; the /prompt answer is returned for the history wait.

    A client that goes away cancels this: our prompt is `withdraw`n (interrupted if it runs, else
    dequeued). Without a websocket (refused, proxy without upgrade) the prompt still runs, without
    progress.
    """
    client_id = str(uuid.uuid4())
    try:
        ws: WebSocket | None = await connect(ws_url(base_url, client_id))
    except Exception:  # refused, handshake rejected, timed out: run without live progress
        ws = None
    queued = await queue(client_id)
    tracker = PromptTracker(str(queued["prompt_id"]))
    try:
        if ws is not None:
            async for update in _follow(ws, tracker):
                report(update)
    except asyncio.CancelledError:
        if not tracker.done:
            await withdraw(tracker.prompt_id, tracker.started)
        raise
    finally:
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
    return queued


async def _follow(ws: WebSocket, tracker: PromptTracker) -> AsyncIterator[ProgressUpdate | PreviewImage]:
    """Frames until our prompt is done; a closed socket just ends the relay (history decides)."""
    while not tracker.done:
        try:
            frame = await ws.recv()
        except asyncio.CancelledError:
            raise
        except Exception:  # ConnectionClosed and friends: stop relaying, never fail the job for it
            return
        update = tracker.on_binary(frame) if isinstance(frame, bytes) else tracker.on_text(frame)
        if update is not None:
            yield update
