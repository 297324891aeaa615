"""fal.ai queue: `POST https://queue.fal.run/<model id>` (`Authorization: Key ...`) -> `{request_id,
status_url, response_url, cancel_url}` (URLs without the model's subpath); `GET status_url[?logs=1]`
-> 202 `IN_QUEUE` (queue_position) / `IN_PROGRESS` (logs `step i/n`) then 200 `COMPLETED`;
`GET response_url` -> `{images: [{url, ...}], seed, has_nsfw_concepts}`; `PUT cancel_url`;
images served from the fal CDN (`v3.fal.media`). Errors are FastAPI `{detail}` bodies.

`FakeFal` answers `pending` status polls before COMPLETED, counts `cancels`, and `nsfw` flags
that many images (fal blacks them out)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.base import Fake, fixture, json_response

QUEUE = "https://queue.fal.run"


@dataclass
class FakeFal(Fake):
    pending: int = 2  # IN_QUEUE, then IN_PROGRESS polls before COMPLETED
    nsfw: int = 0
    hang: bool = False  # never completes (the client's deadline or cancellation ends it)
    cancels: int = 0
    polls: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    on_poll: Callable[[int], None] | None = None  # hears each status poll's number
    foreign_status_url: bool = False  # the submit answer points polling at another host
    extra: int = 0  # the result lists this many more images than num_images asked for

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.url.host.endswith("fal.media"):
            data = self.files.get(path)
            return httpx.Response(200, content=data, headers={"content-type": "image/png"}) if data else httpx.Response(404)
        if "/requests/" in path:
            return self._request(request, path)
        if request.method == "POST":
            failed = self.fail_generation(request)
            if failed is not None:
                return failed
            self.calls += 1
            self.inputs.append(json.loads(request.content))
            payload: dict[str, Any] = fixture("fal/queue_submit_200.json")
            rid = f"req-{self.calls}"
            app = "/".join(path.strip("/").split("/")[:2])  # the subpath is not part of the request URLs
            base = f"{QUEUE}/{app}/requests/{rid}"
            payload |= {"request_id": rid, "response_url": base, "status_url": base + "/status", "cancel_url": base + "/cancel"}
            if self.foreign_status_url:
                payload["status_url"] = "https://collector.example/requests/x/status"
            return json_response(payload)
        return json_response({"detail": "Not Found"}, status=404)

    def _request(self, request: httpx.Request, path: str) -> httpx.Response:
        rid = path.split("/requests/")[1].split("/")[0]
        if path.endswith("/cancel") and request.method == "PUT":
            self.cancels += 1
            return json_response({"status": "CANCELLATION_REQUESTED"}, status=202)
        if path.endswith("/status"):
            self.polls += 1
            if self.on_poll is not None:
                self.on_poll(self.polls)
            if self.hang or self.polls <= self.pending:
                if self.polls == 1:
                    return json_response({"status": "IN_QUEUE", "queue_position": 0, "response_url": QUEUE + path[:-7]}, status=202)
                status: dict[str, Any] = fixture("fal/queue_status_in_progress.json")
                status["logs"] = [{"message": f"step {14 * (self.polls - 1)}/28", "timestamp": "2026-01-01T00:00:01Z"}]
                return json_response(status, status=202)
            return json_response({"status": "COMPLETED", "logs": None, "response_url": QUEUE + path[:-7]})
        if self.failure and self.failure.no_image:
            return json_response({"images": [], "seed": 1})
        number = (self.inputs[-1].get("num_images", 1) if self.inputs else 1) + self.extra
        result: dict[str, Any] = fixture("fal/result_flux_dev_200.json")
        images = []
        for i in range(number):
            name = f"/files/{rid}/{i}.png"
            self.files[name] = self.image()
            images.append({"url": f"https://v3.fal.media{name}", "width": 64, "height": 48, "content_type": "image/png"})
        seed = self.inputs[-1].get("seed", 271828) if self.inputs else 271828
        result |= {"images": images, "seed": seed, "has_nsfw_concepts": [i < self.nsfw for i in range(number)]}
        return json_response(result)
