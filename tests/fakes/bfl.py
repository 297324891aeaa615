"""BFL (Flux): submit `POST api.bfl.ai/v1/<model>` -> `{"id", "polling_url"}` on another host ->
`GET /v1/get_result?id=` (Pending ... Ready with `result.sample`, or Error) -> delivery download.

`FakeBFL` serves the plain flow from the recorded bodies with `Failure` injection (and as a relay
on one origin); `PollingBFL` the streamed one (rising `progress`, per-task modes). The minimal
bodies below are also what the loopback-socket fake answers (tests/reliability)."""

from __future__ import annotations

import asyncio
import base64
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


# Edit endpoints and their input fields (docs.bfl.ai API reference): Kontext input_image..4,
# FLUX.2 input_image..8 (klein 4), Fill `image` (required) + optional `mask`. Base64 or a URL.
EDIT_INPUTS = {
    "flux-kontext-pro": 4,
    "flux-kontext-max": 4,
    "flux-2-pro": 8,
    "flux-2-max": 8,
    "flux-2-flex": 8,
    "flux-2-klein-4b": 4,
    "flux-2-klein-9b": 4,
}
FILL = "flux-pro-1.0-fill"


def _input_fields(limit: int) -> list[str]:
    return ["input_image", *(f"input_image_{i}" for i in range(2, limit + 1))]


def validation_error(*problems: tuple[str, str, str]) -> httpx.Response:
    """BFL's FastAPI 422: `{"detail": [{"loc": ["body", field], "msg", "type"}]}`."""
    detail = [{"loc": ["body", field], "msg": msg, "type": kind} for field, msg, kind in problems]
    return json_response({"detail": detail}, 422)


def _bad_image(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if value.startswith("https://"):
        return False
    try:
        data = base64.b64decode(value, validate=True)
    except ValueError:
        return True
    return not data.startswith((b"\x89PNG", b"\xff\xd8\xff", b"RIFF"))


def check_edit(model: str, body: dict[str, Any]) -> httpx.Response | None:
    """The edit models' input checks: Fill needs `image`; every input must be an image (base64 or URL)."""
    if model == FILL:
        if "image" not in body:
            return validation_error(("image", "field required", "value_error.missing"))
        fields = ["image", "mask"]
    else:
        fields = _input_fields(EDIT_INPUTS.get(model, 0))
    bad = [name for name in fields if name in body and body[name] is not None and _bad_image(body[name])]
    if bad:
        return validation_error(*((name, "Invalid image", "value_error") for name in bad))
    return None


class FakeBFL(Fake):
    """Submit -> `polling_url` on another host -> `pending_polls` Pending answers -> Ready -> delivery.

    The edit models check their inputs (`check_edit`); `moderate_inputs` answers every task that
    carries an input image `Request Moderated` (BFL's verdict on an input it refuses)."""

    def __init__(
        self,
        failure: Failure | None = None,
        *,
        pending_polls: int = 0,
        terminal: str = "get_result_ready.json",
        relay: str | None = None,
        moderate_inputs: bool = False,
    ) -> None:
        super().__init__(failure)
        self.moderate_inputs = moderate_inputs
        self.bodies: list[tuple[str, dict[str, Any]]] = []  # (model, submit body) of each task
        self.moderated = False
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
            model, body = path.removeprefix("/v1/"), json.loads(request.content)
            refused = check_edit(model, body) if model in EDIT_INPUTS or model == FILL else None
            if refused is not None:
                return refused
            self.calls += 1
            self.bodies.append((model, body))
            self.seeds.append(body.get("seed"))
            self.moderated = self.moderate_inputs and any(
                key in body for key in ("image", *_input_fields(8))
            )
            return json_response(fixture("bfl/submit_flux-pro-1.1_200.json"))
        if host == "api.us1.bfl.ai" and path == "/v1/get_result":
            self.polls += 1
            if self.polls <= self.pending_polls:
                return json_response(fixture("bfl/get_result_pending.json"))
            terminal = "get_result_request_moderated.json" if self.moderated else self.terminal
            result = fixture(f"bfl/{terminal}")
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
