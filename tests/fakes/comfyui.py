"""ComfyUI: `POST /prompt` -> `{"prompt_id"}` -> `GET /history/{id}` (`{}` while running, then the
outputs) -> `GET /view`; progress and previews over the `/ws?clientId=` websocket.

`FakeComfy` serves the plain (polling) flow with `Failure` injection; `WebSocketComfy` the streamed
one, pushing the recorded websocket frames to the client's `FakeWebSocket`, with per-call modes."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable
from typing import Any

import httpx

from tests.fakes.base import FIXTURES, Failure, Fake, fixture, json_response
from tests.support.images import distinct_png, jpeg

COMFY_FIXTURE_ID = "0f6e3c2a-1b4d-4e8f-9a7b-6c5d4e3f2a1b"


def fixture_for(name: str, prompt_id: str) -> Any:
    """A streaming ComfyUI fixture with its prompt id replaced by `prompt_id`."""
    return json.loads((FIXTURES / "streaming" / "comfyui" / name).read_text().replace(COMFY_FIXTURE_ID, prompt_id))


def preview_frame(image: bytes, image_type: int = 1) -> bytes:
    """A binary websocket preview as ComfyUI sends it: event 1 (PREVIEW_IMAGE), image type (1 JPEG)."""
    return struct.pack(">II", 1, image_type) + image


class FakeComfy(Fake):
    """POST /prompt -> /history/{id} ({} for `pending_polls` polls) -> /view."""

    def __init__(
        self,
        failure: Failure | None = None,
        *,
        pending_polls: int = 0,
        history: str = "history_200_success.json",
    ) -> None:
        super().__init__(failure)
        self.pending_polls = pending_polls
        self.history = history
        self.polls = 0
        self.prompts: list[dict[str, Any]] = []

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        prompt_id = fixture("comfyui/prompt_200.json")["prompt_id"]
        if request.method == "POST" and path == "/prompt":
            failed = self.fail_generation(request)
            if failed is not None:
                return failed
            self.calls += 1
            self.prompts.append(json.loads(request.content))
            return json_response(fixture("comfyui/prompt_200.json"))
        if path == f"/history/{prompt_id}":
            self.polls += 1
            if self.polls <= self.pending_polls:
                return json_response({})
            entry = fixture(f"comfyui/{self.history}")
            if self.failure and self.failure.no_image:
                entry[prompt_id]["outputs"] = {}
            return json_response(entry)
        if path == "/view":
            return httpx.Response(200, content=self.image(), headers={"content-type": "image/png"})
        return json_response({"error": "not found"}, 404)


class FakeWebSocket:
    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.closed = False

    async def recv(self) -> str | bytes:
        return await self.frames.get()

    async def close(self) -> None:
        self.closed = True


class WebSocketComfy:
    """ComfyUI: /prompt -> websocket frames for that client's prompt (the fixture messages, another
    prompt's progress and preview interleaved, our preview after our progress) -> /history -> /view.

    mode(call_number) -> "ok" | "error" (execution_error; history reports the error) | "hang" (starts,
    reports progress and a preview, then goes quiet) | "queued" (never starts).
    """

    def __init__(self, mode: Callable[[int], str] = lambda call: "ok") -> None:
        self.mode = mode
        self.sockets: dict[str, FakeWebSocket] = {}
        self.prompts: list[dict[str, Any]] = []
        self.modes: dict[str, str] = {}
        self.cancels: list[tuple[str, Any]] = []  # (path, body) of /interrupt and /queue calls

    @property
    def calls(self) -> int:
        return len(self.prompts)

    async def connect(self, url: str) -> FakeWebSocket:
        socket = FakeWebSocket(url)
        self.sockets[httpx.URL(url).params["clientId"]] = socket
        return socket

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/prompt":
            return self._queue(json.loads(request.content))
        if request.method == "POST" and path in ("/interrupt", "/queue"):
            self.cancels.append((path, json.loads(request.content)))
            return httpx.Response(200, json={})
        if path.startswith("/history/"):
            prompt_id = path.rsplit("/", 1)[1]
            name = "history_200_error.json" if self.modes[prompt_id] == "error" else "history_200_success.json"
            return httpx.Response(200, json=fixture_for(name, prompt_id))
        if path == "/view":
            return httpx.Response(200, content=distinct_png(self.calls), headers={"content-type": "image/png"})
        return httpx.Response(404, json={"error": "not found"})

    def _queue(self, body: dict[str, Any]) -> httpx.Response:
        self.prompts.append(body)
        prompt_id = f"prompt-{self.calls}"
        mode = self.modes[prompt_id] = self.mode(self.calls)
        socket = self.sockets.get(body["client_id"])
        if socket is not None:
            for frame in self._frames(prompt_id, mode):
                socket.frames.put_nowait(frame)
        return httpx.Response(200, json={"prompt_id": prompt_id, "number": self.calls, "node_errors": {}})

    def _frames(self, prompt_id: str, mode: str) -> list[str | bytes]:
        if mode == "queued":
            return [json.dumps({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 2}}}})]
        messages = fixture_for("ws_messages.json", prompt_id)
        other = {"type": "progress", "data": {"value": 3, "max": 9, "prompt_id": "someone-else", "node": "3"}}
        frames: list[str | bytes] = [json.dumps(m) for m in messages[:4]]  # status .. executing node 3
        frames += [json.dumps(other), preview_frame(b"\xff\xd8\xff\xe0their-preview")]
        frames += [json.dumps(messages[4]), preview_frame(jpeg())]  # our progress 10/20 + our preview
        if mode == "hang":
            return frames
        if mode == "error":
            error = {"prompt_id": prompt_id, "node_id": "3", "node_type": "KSampler", "exception_type": "RuntimeError", "exception_message": "boom"}
            return [*frames, json.dumps({"type": "execution_error", "data": error})]
        return frames + [json.dumps(m) for m in messages[5:]]
