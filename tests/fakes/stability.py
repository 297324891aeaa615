"""Stability AI v2beta: `POST /v2beta/stable-image/generate/{ultra,core,sd3}` (multipart/form-data,
Bearer key). `Accept: image/*` answers the image bytes with `seed` and `finish-reason` headers;
`Accept: application/json` answers `{image, finish_reason, seed}`. Errors are `{id, name, errors[]}`
(403 `content_moderation`, 429 with Retry-After...). `FakeStability` records each call's form
fields (`forms`); `filtered` answers CONTENT_FILTERED (a 200 with a blurred image)."""

from __future__ import annotations

import base64
import email.parser
import email.policy
from dataclasses import dataclass, field

import httpx

from tests.fakes.base import Fake, json_response

ENDPOINTS = ("ultra", "core", "sd3")


def form_fields(request: httpx.Request) -> dict[str, str]:
    """The text parts of a multipart/form-data body, as a server reads them."""
    head = f"content-type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str) and part.get("content-type") is None:  # file parts (typed) aside
            payload = part.get_payload(decode=True)
            fields[name] = payload.decode() if isinstance(payload, bytes) else ""
    return fields


def error_payload(name: str, message: str) -> dict[str, object]:
    return {"id": "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4", "name": name, "errors": [message]}


@dataclass
class FakeStability(Fake):
    filtered: bool = False
    forms: list[dict[str, str]] = field(default_factory=list)
    seed: int = 343940597

    def route(self, request: httpx.Request) -> httpx.Response:
        prefix = "/v2beta/stable-image/generate/"
        if request.method != "POST" or not request.url.path.startswith(prefix):
            return json_response(error_payload("not_found", "not found"), status=404)
        if request.url.path[len(prefix) :] not in ENDPOINTS:
            return json_response(error_payload("not_found", "unknown endpoint"), status=404)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return json_response(error_payload("bad_request", "multipart/form-data required"), status=400)
        failed = self.fail_generation(request)
        if failed is not None:
            return failed
        self.calls += 1
        form = form_fields(request)
        self.forms.append(form)
        seed = int(form.get("seed", self.seed))
        finish = "CONTENT_FILTERED" if self.filtered else "SUCCESS"
        no_image = bool(self.failure and self.failure.no_image)
        if request.headers.get("accept") == "application/json":
            payload: dict[str, object] = {"finish_reason": finish, "seed": seed}
            if not no_image:
                payload["image"] = base64.b64encode(self.image()).decode()
            return json_response(payload)
        headers = {"content-type": "image/png", "seed": str(seed), "finish-reason": finish}
        return httpx.Response(200, content=b"" if no_image else self.image(), headers=headers)
