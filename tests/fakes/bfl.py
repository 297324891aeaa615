"""BFL (Flux): submit `POST api.bfl.ai/v1/<model>` -> `{"id", "polling_url"}` on another host ->
`GET /v1/get_result?id=` (Pending ... Ready with `result.sample`, or Error) -> delivery download.

`FakeBFL` serves the plain flow from the recorded bodies with `Failure` injection (and as a relay
on one origin); `PollingBFL` the streamed one (rising `progress`, per-task modes). The minimal
bodies below are also what the loopback-socket fake answers (tests/reliability)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx

from tests.fakes.base import PROVIDER_DRAWN_SEED, Failure, Fake, fixture, json_response
from tests.support.images import distinct_png


def submit_payload(task: str, polling_url: str) -> dict[str, Any]:
    return {"id": task, "polling_url": polling_url}


def pending_payload(task: str, progress: float | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": task, "status": "Pending", "result": None}
    if progress is not None:
        body["progress"] = progress
    return body


def ready_payload(task: str, sample: str, seed: int) -> dict[str, Any]:
    return {"id": task, "status": "Ready", "result": {"sample": sample, "seed": seed}}


class FakeBFL(Fake):
    """Submit -> `polling_url` on another host -> `pending_polls` Pending answers -> Ready -> delivery."""

    def __init__(
        self,
        failure: Failure | None = None,
        *,
        pending_polls: int = 0,
        terminal: str = "get_result_ready.json",
        relay: str | None = None,
    ) -> None:
        super().__init__(failure)
        self.pending_polls = pending_polls
        self.terminal = terminal
        self.polls = 0
        self.seeds: list[int | None] = []  # the `seed` of each submit
        # A BFL relay / local test server (e.g. "http://127.0.0.1:8765") serving submit, polling
        # and results from its own origin, as `allow_private_base_url` allows.
        self.relay: str | None = relay

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.relay is None:
            return super().handle(request)
        self.requests.append(request)
        if str(request.url).startswith(self.relay):  # the relay's paths, served as BFL's own
            path = request.url.raw_path.decode()
            host = "delivery-us1.bfl.ai" if path.startswith("/results/") else "api.bfl.ai"
            if path.startswith("/v1/get_result"):
                host = "api.us1.bfl.ai"
            as_bfl = httpx.Request(
                request.method, f"https://{host}{path}", headers=request.headers, content=request.content
            )
            response = self.route(as_bfl)
        else:
            response = json_response({"detail": "Not Found"}, 404)
        if response.headers.get("content-type", "").startswith("application/json"):
            text = response.content.decode()
            for origin in ("https://api.us1.bfl.ai", "https://delivery-us1.bfl.ai"):
                text = text.replace(origin, self.relay)
            return json_response(json.loads(text), response.status_code)
        return response

    def route(self, request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path
        if request.method == "POST" and host == "api.bfl.ai" and path.startswith("/v1/"):
            failed = self.fail_generation(request)
            if failed is not None:
                return failed
            self.calls += 1
            self.seeds.append(json.loads(request.content).get("seed"))
            return json_response(fixture("bfl/submit_flux-pro-1.1_200.json"))
        if host == "api.us1.bfl.ai" and path == "/v1/get_result":
            self.polls += 1
            if self.polls <= self.pending_polls:
                return json_response(fixture("bfl/get_result_pending.json"))
            result = fixture(f"bfl/{self.terminal}")
            if isinstance(result.get("result"), dict):  # BFL reports the seed it used: ours or its own
                sent = self.seeds[-1] if self.seeds else None
                result["result"]["seed"] = sent if sent is not None else PROVIDER_DRAWN_SEED
            if self.failure and self.failure.no_image and result.get("result"):
                result["result"].pop("sample")
            return json_response(result)
        if host == "delivery-us1.bfl.ai":
            return httpx.Response(200, content=self.image(), headers={"content-type": "image/jpeg"})
        return json_response({"detail": "Not Found"}, 404)


class PollingBFL:
    """BFL submit -> polling_url (Pending with rising `progress`, then Ready) -> delivery download.

    task_mode(task_number) -> "ok" | "error" (status Error after the pending polls) | "hang" (the
    poll after the pending ones never answers) | "http_500" (submit fails).
    """

    def __init__(self, task_mode: Callable[[int], str] = lambda task: "ok", *, progress: tuple[float, ...] = (0.25, 0.5)) -> None:
        self.task_mode = task_mode
        self.progress = progress
        self.tasks = 0
        self.polls: dict[str, int] = {}
        self.poll_cancelled = 0
        self.hanging = asyncio.Event()  # set when a "hang" poll starts waiting

    async def handle(self, request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path
        if request.method == "POST" and host == "api.bfl.ai":
            self.tasks += 1
            if self.task_mode(self.tasks) == "http_500":
                return httpx.Response(500, json={"detail": "Internal Server Error"})
            task = f"task-{self.tasks}"
            return httpx.Response(200, json=submit_payload(task, f"https://api.us1.bfl.ai/v1/get_result?id={task}"))
        if host == "api.us1.bfl.ai" and path == "/v1/get_result":
            return await self._poll(request.url.params["id"])
        if host == "delivery-us1.bfl.ai":
            task = int(path.rsplit("-", 1)[1])
            return httpx.Response(200, content=distinct_png(task), headers={"content-type": "image/png"})
        return httpx.Response(404, json={"detail": "Not Found"})

    async def _poll(self, task: str) -> httpx.Response:
        count = self.polls[task] = self.polls.get(task, 0) + 1
        number = int(task.rsplit("-", 1)[1])
        if count <= len(self.progress):
            return httpx.Response(200, json=pending_payload(task, self.progress[count - 1]))
        mode = self.task_mode(number)
        if mode == "hang":
            self.hanging.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.poll_cancelled += 1
                raise
        if mode == "error":
            return httpx.Response(200, json={"id": task, "status": "Error", "result": None, "details": {"error": "GPU fault"}})
        ready = fixture("streaming/bfl/get_result_ready.json")
        ready["id"] = task
        ready["result"]["sample"] = f"https://delivery-us1.bfl.ai/results/sample-{number}"
        return httpx.Response(200, json=ready)
