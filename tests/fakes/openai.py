"""OpenAI images API: `POST /v1/images/generations` -> `{"created", "data": [{"b64_json"}]}`, the
`stream: true` SSE flow (partial images, then `image_generation.completed`), and its error bodies.

`FakeOpenAI` serves the plain flow with `Failure` injection; `StreamingOpenAI` the streamed one with
per-call modes. The bodies are also what the loopback-socket fake answers (tests/reliability)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.base import Body, Fake, fixture, json_response
from tests.support.images import distinct_png

CREATED = 1700000000


def images_payload(images: list[bytes], *, created: int = CREATED, **extra: object) -> dict[str, Any]:
    """The 200 body: each image base64-encoded in `b64_json`, as the real API returns it."""
    data = [{"b64_json": base64.b64encode(image).decode()} for image in images]
    return {"created": created, "data": data, **extra}


def error_payload(status: int, message: str | None = None) -> dict[str, Any]:
    """OpenAI's error object for a status (`message` replaces the text: untrusted provider text)."""
    kinds = {
        429: ("Rate limit exceeded for images per minute.", "requests", "rate_limit_exceeded"),
        400: ("Invalid value for 'size'.", "invalid_request_error", None),
        401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    }
    text, kind, code = kinds.get(
        status, ("The server had an error while processing your request.", "server_error", None)
    )
    text = message if message is not None else text
    return {"error": {"message": text, "type": kind, "param": None, "code": code}}


def stream_events(final_image: bytes) -> list[dict[str, Any]]:
    """The recorded `stream: true` events, the completed one carrying `final_image`."""
    events: list[dict[str, Any]] = fixture("streaming/openai/stream_events.json")
    events[-1]["b64_json"] = base64.b64encode(final_image).decode()
    return events


def sse_chunks(events: list[dict[str, Any]]) -> list[bytes]:
    return [f"event: {e.get('type', 'error')}\ndata: {json.dumps(e)}\n\n".encode() for e in events]


@dataclass
class FakeOpenAI(Fake):
    """`default_format`: what the dialect answers when the body has no `response_format` ("url":
    xAI, Recraft, Seedream, LocalAI serve a URL by default; those URLs are served here too, under
    `/files/` on the same host). `path`: the generation route (OpenRouter: `/images`)."""

    default_format: str = "b64_json"
    path: str = "/images/generations"
    files: dict[str, bytes] = field(default_factory=dict)

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith(self.path):
            failed = self.fail_generation(request)
            if failed is not None:
                return failed
            self.calls += 1
            body = json.loads(request.content)
            if self.failure and self.failure.no_image:
                return json_response({"created": 1, "data": []})
            images = [self.image() for _ in range(body.get("n", 1))]
            if body.get("response_format", self.default_format) == "url":
                self.files.update({f"img{len(self.files) + i}.png": image for i, image in enumerate(images)})
                base = f"{request.url.scheme}://{request.url.netloc.decode()}/files/"
                data = [{"url": base + name} for name in list(self.files)[-len(images) :]]
                return json_response({"created": CREATED, "data": data})
            payload = images_payload(images)
            return json_response(payload, headers={"x-request-id": "req_1"})
        if request.url.path.startswith("/files/") and request.url.path[7:] in self.files:
            return httpx.Response(200, content=self.files[request.url.path[7:]], headers={"content-type": "image/png"})
        if request.url.host.endswith("blob.core.windows.net"):
            return httpx.Response(200, content=self.image(), headers={"content-type": "image/png"})
        return httpx.Response(404, json={"error": {"code": "not_found"}})


class StreamingOpenAI:
    """POST /v1/images/generations with `stream: true`: the fixture's SSE events, per-call behaviour.

    mode(call_number) -> "ok" | "error_event" (a partial, then an error object) | "hang" (a partial,
    then nothing until the client goes away) | "drop" (a partial, then a connection reset) |
    "http_500" (an error status before any event) | "nested_event" (a partial, then `data: [[[...`).
    """

    def __init__(self, mode: Callable[[int], str] = lambda call: "ok") -> None:
        self.mode = mode
        self.bodies: list[dict[str, Any]] = []
        self.closed = 0  # response bodies closed by the client (finished or abandoned)

    @property
    def calls(self) -> int:
        return len(self.bodies)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/images/generations")
        self.bodies.append(json.loads(request.content))
        mode = self.mode(self.calls)
        if mode == "http_500":
            return httpx.Response(500, json={"error": {"message": "The server had an error", "type": "server_error"}})
        events = stream_events(distinct_png(self.calls))
        if mode == "error_event":
            events = [events[0], {"error": {"code": "server_error", "message": "stream failed", "type": "server_error"}}]
        elif mode in ("hang", "drop"):
            events = events[:1]
        chunks = sse_chunks(events)
        if mode == "nested_event":  # a preview, then an event nested past any JSON decoder's depth limit
            chunks = [chunks[0], b"data: " + b"[" * 100_000 + b"\n\n"]
        body = Body(chunks, hang=mode == "hang", drop=mode == "drop", on_close=self._closed)
        return httpx.Response(200, headers={"content-type": "text/event-stream; charset=utf-8"}, stream=body)

    def _closed(self) -> None:
        self.closed += 1
