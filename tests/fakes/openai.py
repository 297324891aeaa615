"""OpenAI images API: `POST /v1/images/generations` -> `{"created", "data": [{"b64_json"}]}`, the
`stream: true` SSE flow (partial images, then `image_generation.completed`), its error bodies, and
`POST /v1/images/edits` (multipart: `image` / `image[]` files, `mask`, form fields) with the
per-model input rules OpenAI enforces (dall-e-2: one square PNG under 4 MB; GPT image: up to 16).

`FakeOpenAI` serves the plain flow with `Failure` injection; `StreamingOpenAI` the streamed one with
per-call modes. The bodies are also what the loopback-socket fake answers (tests/reliability)."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from PIL import Image

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


@dataclass(frozen=True)
class Part:
    """One multipart part as it arrived: field name, file name (None for a plain field), the
    part's own Content-Type, and its bytes."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class EditCall:
    """What one POST /images/edits carried."""

    content_type: str  # the request's (multipart/form-data; boundary=...)
    parts: list[Part] = field(default_factory=list)

    @property
    def fields(self) -> dict[str, str]:
        return {p.name: p.data.decode() for p in self.parts if p.filename is None}

    @property
    def files(self) -> list[Part]:
        return [p for p in self.parts if p.filename is not None]


def parse_multipart(request: httpx.Request) -> EditCall:
    """The body parsed as a server would: by the boundary in the request's Content-Type."""
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary="), content_type
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.content
    )
    call = EditCall(content_type)
    for part in message.iter_parts():
        disposition = part.get("content-disposition", "")
        assert disposition.startswith("form-data"), disposition
        payload = part.get_payload(decode=True)
        call.parts.append(
            Part(
                str(part.get_param("name", header="content-disposition")),
                part.get_filename(),
                part.get("content-type"),
                payload if isinstance(payload, bytes) else b"",
            )
        )
    return call


_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
DALLE2_MAX_BYTES = 4 * 1024 * 1024


def _invalid(message: str, param: str | None = None, code: str | None = None) -> httpx.Response:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    return json_response({"error": error}, status=400)


def _size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (OSError, ValueError):
        return None


def check_edit(call: EditCall) -> httpx.Response | None:
    """OpenAI's refusals of an edit request (None: it would be accepted)."""
    fields, files = call.fields, call.files
    model = fields.get("model", "dall-e-2")
    if "prompt" not in fields:
        return _invalid("Missing required parameter: 'prompt'.", "prompt")
    if model.startswith("dall-e-3"):
        return _invalid("Invalid value: 'dall-e-3'. Value must be 'dall-e-2' or a GPT image model.", "model")
    images = [p for p in files if p.name in ("image", "image[]")]
    if not images:
        return _invalid("Missing required parameter: 'image'.", "image")
    for part in files:
        if part.content_type not in _IMAGE_TYPES:
            return _invalid(
                f"Invalid file '{part.name}': unsupported mimetype ('{part.content_type}'). Supported file "
                "formats are 'image/jpeg', 'image/png', and 'image/webp'.",
                part.name,
                "unsupported_file_mimetype",
            )
    if model.startswith("dall-e-2"):
        image = images[0]
        size = _size(image.data)
        if len(images) > 1 or not image.data.startswith(b"\x89PNG") or len(image.data) >= DALLE2_MAX_BYTES:
            return _invalid("Uploaded image must be a PNG and less than 4 MB.", "image")
        if size is None or size[0] != size[1]:
            return _invalid(
                "Invalid input image - image must be square (a square PNG less than 4 MB).", "image"
            )
    elif len(images) > 16:
        return _invalid("Too many images: at most 16 may be provided.", "image")
    mask = next((p for p in files if p.name == "mask"), None)
    if mask is not None and (
        not mask.data.startswith(b"\x89PNG") or _size(mask.data) != _size(images[0].data)
    ):
        return _invalid("Invalid mask image format - mask size does not match image size", "mask")
    return None


@dataclass
class FakeOpenAI(Fake):
    """`default_format`: what the dialect answers when the body has no `response_format` ("url":
    xAI, Recraft, Seedream, LocalAI serve a URL by default; those URLs are served here too, under
    `/files/` on the same host). `path`: the generation route (OpenRouter: `/images`)."""

    edits: list[EditCall] = field(default_factory=list)  # every /images/edits request, parsed
    default_format: str = "b64_json"
    path: str = "/images/generations"
    served: dict[str, bytes] = field(default_factory=dict)  # URL answers, by name under /files/
    usage: dict[str, object] | None = None  # a `usage` block on generations (xAI/OpenRouter report cost there)

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/images/edits"):
            return self.edit(request)
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
                self.served.update({f"img{len(self.served) + i}.png": image for i, image in enumerate(images)})
                base = f"{request.url.scheme}://{request.url.netloc.decode()}/files/"
                data = [{"url": base + name} for name in list(self.served)[-len(images) :]]
                return json_response({"created": CREATED, "data": data})
            payload = images_payload(images) if self.usage is None else images_payload(images, usage=self.usage)
            return json_response(payload, headers={"x-request-id": "req_1"})
        if request.url.path.startswith("/files/") and request.url.path[7:] in self.served:
            return httpx.Response(200, content=self.served[request.url.path[7:]], headers={"content-type": "image/png"})
        if request.url.host.endswith("blob.core.windows.net"):
            return httpx.Response(200, content=self.image(), headers={"content-type": "image/png"})
        return httpx.Response(404, json={"error": {"code": "not_found"}})

    def edit(self, request: httpx.Request) -> httpx.Response:
        call = parse_multipart(request)
        self.edits.append(call)
        refused = self.fail_generation(request) or check_edit(call)
        if refused is not None:
            return refused
        self.calls += 1
        n = int(call.fields.get("n", "1"))
        return json_response(
            images_payload([self.image() for _ in range(n)]), headers={"x-request-id": "req_e"}
        )


class StreamingOpenAI:
    """POST /v1/images/generations with `stream: true`: the fixture's SSE events, per-call behaviour.

    mode(call_number) -> "ok" | "error_event" (a partial, then an error object) | "hang" (a partial,
    then nothing until the client goes away) | "drop" (a partial, then a connection reset) |
    "http_500" (an error status before any event) | "nested_event" (a partial, then `data: [[[...`) |
    "json" (an OpenAI-compatible server that ignores `stream`: the plain JSON images answer) |
    "flood" (50 partial images, more than any `partial_images` asks for, then the image)."""

    def __init__(self, mode: Callable[[int], str] = lambda call: "ok") -> None:
        self.mode = mode
        self.bodies: list[dict[str, Any]] = []  # JSON bodies, or an edit's form fields
        self.edits: list[EditCall] = []  # the multipart edits, parsed
        self.closed = 0  # response bodies closed by the client (finished or abandoned)

    @property
    def calls(self) -> int:
        return len(self.bodies)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        edit = request.url.path.endswith("/images/edits")  # multipart; its events are image_edit.*
        assert edit or request.url.path.endswith("/images/generations")
        if edit:
            self.edits.append(parse_multipart(request))
        self.bodies.append(self.edits[-1].fields if edit else json.loads(request.content))
        mode = self.mode(self.calls)
        if mode == "http_500":
            return httpx.Response(
                500, json={"error": {"message": "The server had an error", "type": "server_error"}}
            )
        if mode == "json":
            return json_response(images_payload([distinct_png(self.calls)]))
        events = stream_events(distinct_png(self.calls))
        if edit:
            events = [{**e, "type": e["type"].replace("image_generation.", "image_edit.")} for e in events]
        if mode == "error_event":
            events = [
                events[0],
                {"error": {"code": "server_error", "message": "stream failed", "type": "server_error"}},
            ]
        elif mode == "flood":
            events = [{**events[0], "partial_image_index": i} for i in range(50)] + events[-1:]
        elif mode in ("hang", "drop"):
            events = events[:1]
        chunks = sse_chunks(events)
        if mode == "nested_event":  # a preview, then an event nested past any JSON decoder's depth limit
            chunks = [chunks[0], b"data: " + b"[" * 100_000 + b"\n\n"]
        body = Body(chunks, hang=mode == "hang", drop=mode == "drop", on_close=self._closed)
        return httpx.Response(200, headers={"content-type": "text/event-stream; charset=utf-8"}, stream=body)

    def _closed(self) -> None:
        self.closed += 1
