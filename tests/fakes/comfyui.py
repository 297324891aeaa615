"""ComfyUI: `POST /prompt` -> `{"prompt_id"}` -> `GET /history/{id}` (`{}` while running, then the
outputs) -> `GET /view`; progress and previews over the `/ws?clientId=` websocket.

`FakeComfy` serves the plain (polling) flow with `Failure` injection; `WebSocketComfy` the streamed
one, pushing the recorded websocket frames to the client's `FakeWebSocket`, with per-call modes."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
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


def parse_upload(request: httpx.Request) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    """A multipart/form-data body as ComfyUI's aiohttp reads it: (form fields, files by field name)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"content-type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + request.content
    )
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes, str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        filename = part.get_filename()
        if filename is None:
            fields[name] = payload.decode()
        else:
            files[name] = (filename, payload, part.get_content_type())
    return fields, files


def upload_image(request: httpx.Request, uploaded: dict[str, bytes], forms: list[dict[str, str]]) -> httpx.Response:
    """ComfyUI's upload_image: field `image` (a file), `type` (input), `subfolder`, `overwrite`;
    an existing name with other bytes and no overwrite is renamed `name (1).ext`. Answers
    `{"name", "subfolder", "type"}`."""
    fields, files = parse_upload(request)
    if "image" not in files:
        return httpx.Response(400)
    filename, data, _ = files["image"]
    subfolder = fields.get("subfolder", "")
    name = filename
    stem, dot, ext = filename.rpartition(".")
    counter = 1
    while uploaded.get(f"{subfolder}/{name}" if subfolder else name) not in (None, data) and fields.get("overwrite") != "true":
        name = f"{stem} ({counter}){dot}{ext}"
        counter += 1
    uploaded[f"{subfolder}/{name}" if subfolder else name] = data
    forms.append(fields)
    return json_response({"name": name, "subfolder": subfolder, "type": fields.get("type", "input")})


_LOADERS = ("LoadImage", "LoadImageMask")


def invalid_images(graph: dict[str, Any], uploaded: dict[str, bytes]) -> httpx.Response | None:
    """ComfyUI's answer to a prompt whose LoadImage / LoadImageMask names a file it does not have
    (the nodes' VALIDATE_INPUTS: "Invalid image file")."""
    node_errors = {}
    for node_id, node in graph.items():
        if node.get("class_type") in _LOADERS and node["inputs"].get("image") not in uploaded:
            details = f"image - Invalid image file: {node['inputs'].get('image')}"
            error = {"type": "custom_validation_failed", "message": "Custom validation failed for node", "details": details, "extra_info": {}}
            node_errors[node_id] = {"errors": [error], "dependent_outputs": ["9"], "class_type": node["class_type"]}
    if not node_errors:
        return None
    first = next(iter(node_errors.values()))["errors"][0]
    error = {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation", "details": first["details"], "extra_info": {}}
    return json_response({"error": error, "node_errors": node_errors}, 400)


class FakeComfy(Fake):
    """POST /prompt -> /history/{id} ({} for `pending_polls` polls) -> /view; POST /upload/image
    stores a file (`uploaded`, by the name it answers) that a prompt's LoadImage/LoadImageMask
    must then name, as ComfyUI validates them."""

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
        self.uploaded: dict[str, bytes] = {}  # name (subfolder/name) -> bytes
        self.upload_forms: list[dict[str, str]] = []

    def upload(self, request: httpx.Request) -> httpx.Response:
        return upload_image(request, self.uploaded, self.upload_forms)

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        prompt_id = fixture("comfyui/prompt_200.json")["prompt_id"]
        if request.method == "POST" and path == "/upload/image":
            return self.upload(request)
        if request.method == "POST" and path == "/prompt":
            failed = self.fail_generation(request)
            if failed is not None:
                return failed
            body = json.loads(request.content)
            refused = invalid_images(body["prompt"], self.uploaded)
            if refused is not None:
                return refused
            self.calls += 1
            self.prompts.append(body)
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
        self.uploaded: dict[str, bytes] = {}
        self.upload_forms: list[dict[str, str]] = []

    @property
    def calls(self) -> int:
        return len(self.prompts)

    async def connect(self, url: str) -> FakeWebSocket:
        socket = FakeWebSocket(url)
        self.sockets[httpx.URL(url).params["clientId"]] = socket
        return socket

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/upload/image":
            return upload_image(request, self.uploaded, self.upload_forms)
        if request.method == "POST" and path == "/prompt":
            body = json.loads(request.content)
            return invalid_images(body["prompt"], self.uploaded) or self._queue(body)
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
