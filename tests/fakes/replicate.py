"""Replicate predictions: `POST /v1/models/<owner>/<name>/predictions` (or `/v1/predictions` with
`version`), Bearer key, `Prefer: wait=N` holds the request until the prediction finishes (201 with
the prediction), else it comes back `starting` and is polled at `urls.get`
(`GET /v1/predictions/<id>`: `processing` with tqdm logs, then `succeeded`); `POST urls.cancel`;
output URLs on `replicate.delivery`. Errors are problem+json `{title, detail, status}`.

`FakeReplicate`: `held` polls before success after the create call (0: `Prefer: wait` finishes it),
`single`: output as one string rather than a list, `outcome`: the terminal status."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.base import Fake, fixture, json_response

API = "https://api.replicate.com/v1"


def problem(status: int, title: str, detail: str) -> dict[str, object]:
    return {"title": title, "detail": detail, "status": status}


@dataclass
class FakeReplicate(Fake):
    held: int = 0
    single: bool = False
    outcome: str = "succeeded"
    hang: bool = False
    cancels: int = 0
    polls: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    prefer: list[str | None] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    on_poll: Callable[[int], None] | None = None
    extra: int = 0  # the output lists this many more URLs than num_outputs asked for

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.url.host == "replicate.delivery":
            data = self.files.get(path)
            return httpx.Response(200, content=data, headers={"content-type": "image/webp"}) if data else httpx.Response(404)
        if request.method == "POST" and path.endswith("/cancel"):
            self.cancels += 1
            return json_response(self._prediction("canceled"))
        if request.method == "POST" and path.endswith("/predictions"):
            failed = self.fail_generation(request)
            if failed is not None:
                return failed
            self.calls += 1
            self.bodies.append(json.loads(request.content))
            self.prefer.append(request.headers.get("prefer"))
            done = self.held == 0 and not self.hang and request.headers.get("prefer") is not None
            return json_response(self._prediction(self.outcome if done else "starting"), status=201)
        if request.method == "GET" and path.startswith("/v1/predictions/"):
            self.polls += 1
            if self.on_poll is not None:
                self.on_poll(self.polls)
            if self.hang or self.polls < self.held:
                return json_response(self._prediction("processing", logs=f"{50 * self.polls}%|#####     | {self.polls}/2"))
            return json_response(self._prediction(self.outcome))
        return json_response(problem(404, "Not found", "The requested resource could not be found."), status=404)

    def _prediction(self, status: str, logs: str = "") -> dict[str, Any]:
        prediction: dict[str, Any] = fixture("replicate/prediction_succeeded.json")
        pid = f"p{self.calls}"
        prediction |= {
            "id": pid, "status": status, "logs": logs, "output": None, "error": None,
            "urls": {"get": f"{API}/predictions/{pid}", "cancel": f"{API}/predictions/{pid}/cancel",
                     "web": f"https://replicate.com/p/{pid}"},
        }
        if status == "failed":
            prediction["error"] = "NSFW content detected. Try running it again, or try a different prompt."
        if status == "succeeded":
            if self.failure and self.failure.no_image:
                return prediction | {"output": []}
            number = (int(self.bodies[-1]["input"].get("num_outputs", 1)) if self.bodies else 1) + self.extra
            urls = []
            for i in range(number):
                name = f"/{pid}/out-{i}.webp"
                self.files[name] = self.image()
                urls.append(f"https://replicate.delivery{name}")
            prediction["output"] = urls[0] if self.single else urls
        return prediction
