"""Gemini API: `POST /v1beta/models/<model>:generateContent` (Gemini image models: the image as an
`inlineData` part; a refusal is a 200 with `finishReason: IMAGE_SAFETY` and no image part) and
`POST /v1beta/models/<model>:predict` (Imagen: `predictions[].bytesBase64Encoded`, filtered images
omitted, `{}` when every image was filtered), and google.rpc.Status error bodies.

`FakeGoogle` serves both with `Failure` injection; `blocked` answers every call as refused,
`filtered` omits that many Imagen predictions."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import httpx

from tests.fakes.base import Fake, fixture, json_response


def gemini_payload(image: bytes) -> dict[str, Any]:
    payload: dict[str, Any] = fixture("google/gemini_image_generatecontent_200.json")
    payload["candidates"][0]["content"]["parts"][1]["inlineData"]["data"] = base64.b64encode(image).decode()
    return payload


def gemini_blocked(reason: str = "IMAGE_SAFETY") -> dict[str, Any]:
    """A 200 refusal: a candidate with no image part (as documented for IMAGE_SAFETY)."""
    return {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": reason, "index": 0}]}


def imagen_payload(images: list[bytes]) -> dict[str, Any]:
    return {"predictions": [{"bytesBase64Encoded": base64.b64encode(i).decode(), "mimeType": "image/png"} for i in images]}


def error_payload(code: int, status: str, message: str, **detail: object) -> dict[str, Any]:
    """google.rpc.Status as the Gemini API sends it (API_KEY_INVALID, RESOURCE_EXHAUSTED + RetryInfo)."""
    details = [detail] if detail else []
    return {"error": {"code": code, "message": message, "status": status, "details": details}}


API_KEY_INVALID = error_payload(
    400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
    **{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"},
)
RATE_LIMITED = error_payload(
    429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).",
    **{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"},
)
DAILY_QUOTA = error_payload(
    429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.",
    **{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
       "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
)


@dataclass
class FakeGoogle(Fake):
    blocked: str | None = None  # a finishReason to refuse with (Gemini) / every image filtered (Imagen)
    filtered: int = 0  # Imagen predictions omitted as filtered

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method != "POST" or not path.startswith("/v1beta/models/"):
            return json_response(error_payload(404, "NOT_FOUND", "not found"), status=404)
        failed = self.fail_generation(request)
        if failed is not None:
            return failed
        self.calls += 1
        body = json.loads(request.content)
        if path.endswith(":predict"):
            if self.failure and self.failure.no_image:
                return json_response({"predictions": [{"mimeType": "image/png"}]})
            if self.blocked:
                return json_response({})
            count = int(body["parameters"].get("sampleCount", 1)) - self.filtered
            return json_response(imagen_payload([self.image() for _ in range(max(0, count))]))
        if path.endswith(":generateContent"):
            if self.failure and self.failure.no_image:
                return json_response({"usageMetadata": {"promptTokenCount": 9}})
            if self.blocked:
                return json_response(gemini_blocked(self.blocked))
            return json_response(gemini_payload(self.image()))
        return json_response(error_payload(404, "NOT_FOUND", "method not found"), status=404)
