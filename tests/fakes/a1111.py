"""AUTOMATIC1111: `POST /sdapi/v1/txt2img` -> `{"images": [b64...], "parameters", "info": "<json>"}`,
and `GET /sdapi/v1/progress` (step counts and a preview) while a job runs.

`FakeA1111` serves the plain flow with `Failure` injection; `ProgressA1111` holds each txt2img
until the progress endpoint has been polled through its steps, with per-call modes."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import httpx

from tests.fakes.base import NOT_AN_IMAGE, PROVIDER_DRAWN_SEED, Fake, fixture, json_response
from tests.support.images import distinct_png


def txt2img_payload(body: dict[str, Any], seeds: list[int], images: list[str], *, info_fixture: str) -> dict[str, Any]:
    """The txt2img answer: `info` is a JSON string, as A1111 sends it, with the seeds it used."""
    info = json.loads(fixture(info_fixture)["info"]) | {"all_seeds": seeds, "seed": seeds[0], "index_of_first_image": 0}
    return {"images": images, "parameters": body, "info": json.dumps(info)}


def _png_b64(i: int) -> str:
    return base64.b64encode(distinct_png(i)).decode()


# img2img fields and the pydantic type each must have (StableDiffusionImg2ImgProcessingAPI).
_IMG2IMG_TYPES: dict[str, tuple[type | tuple[type, ...], str, str]] = {
    "init_images": (list, "value is not a valid list", "type_error.list"),
    "mask": (str, "str type expected", "type_error.str"),
    "denoising_strength": ((int, float), "value is not a valid float", "type_error.float"),
    "inpainting_fill": (int, "value is not a valid integer", "type_error.integer"),
    "mask_blur": (int, "value is not a valid integer", "type_error.integer"),
    "inpainting_mask_invert": (int, "value is not a valid integer", "type_error.integer"),
    "inpaint_full_res": (bool, "value could not be parsed to a boolean", "type_error.bool"),
    "resize_mode": (int, "value is not a valid integer", "type_error.integer"),
    "width": (int, "value is not a valid integer", "type_error.integer"),
    "height": (int, "value is not a valid integer", "type_error.integer"),
    "steps": (int, "value is not a valid integer", "type_error.integer"),
    "n_iter": (int, "value is not a valid integer", "type_error.integer"),
}


def img2img_refusal(body: dict[str, Any]) -> httpx.Response | None:
    """What A1111 answers a bad img2img payload: FastAPI's 422 `{"detail": [{loc, msg, type}]}` for a
    field of the wrong type, 404 "Init image not found" without init_images, 500 "Invalid encoded
    image" for base64 that is not an image (decode_base64_to_image)."""
    detail = [
        {"loc": ["body", name], "msg": msg, "type": kind}
        for name, (kind_type, msg, kind) in _IMG2IMG_TYPES.items()
        if body.get(name) is not None and not isinstance(body[name], kind_type)
    ]
    if detail:
        return json_response({"detail": detail}, 422)
    if not body.get("init_images"):
        return json_response({"error": "HTTPException", "detail": "Init image not found", "body": "", "errors": ""}, 404)
    for blob in [*body["init_images"], *([body["mask"]] if body.get("mask") else [])]:
        try:
            data = base64.b64decode(blob.split(",", 1)[-1], validate=True) if isinstance(blob, str) else b""
        except ValueError:
            data = b""
        if not data.startswith((b"\x89PNG", b"\xff\xd8\xff", b"RIFF")):
            return json_response({"error": "HTTPException", "detail": "Invalid encoded image", "body": "", "errors": ""}, 500)
    return None


class FakeA1111(Fake):
    own_seed = PROVIDER_DRAWN_SEED

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bodies: list[tuple[str, dict[str, Any]]] = []  # (path, body) of each generation call

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path in ("/sdapi/v1/txt2img", "/sdapi/v1/img2img"):
            failed = self.fail_generation(request)
            if failed is not None:
                return failed
            body = json.loads(request.content)
            refused = img2img_refusal(body) if path.endswith("img2img") else None
            if refused is not None:
                return refused
            self.calls += 1
            self.bodies.append((path, body))
            return json_response(self.result(body))
        return json_response({"detail": "Not Found"}, 404)

    def result(self, body: dict[str, Any]) -> dict[str, Any]:
        n = body.get("n_iter", 1) * body.get("batch_size", 1)
        # Like A1111's get_fixed_seed: -1 becomes random.randrange(4294967294), often above 2^31-1.
        base_seed = body["seed"] if body.get("seed", -1) != -1 else self.own_seed
        seeds = [base_seed + i for i in range(n)]
        images = [] if self.failure and self.failure.no_image else [self._b64(i) for i in range(n)]
        return txt2img_payload(body, seeds, images, info_fixture="a1111/txt2img_200.json")

    def _b64(self, i: int) -> str:
        data = NOT_AN_IMAGE if self.failure and self.failure.not_image else distinct_png(self.calls * 16 + i)
        data = self.failure.image if self.failure and self.failure.image is not None else data
        return base64.b64encode(data).decode()


class ProgressA1111:
    """A1111: POST /sdapi/v1/txt2img runs until its job has been polled `len(steps)` times on
    /sdapi/v1/progress (which reports those steps and a preview each), then answers.

    mode(call_number) -> "ok" | "http_500" (answers 500 once polled out) | "hang" (never answers).
    """

    def __init__(self, mode: Callable[[int], str] = lambda call: "ok", *, steps: tuple[int, ...] = (5, 10, 15)) -> None:
        self.mode = mode
        self.steps = steps
        self.calls = 0
        self.paths: list[str] = []
        self.polls = 0
        self.txt2img_cancelled = 0
        self.polls_after_cancel = 0
        self.running = asyncio.Event()  # set while a job is in flight
        self._job_polls = 0
        self._polled_out = asyncio.Event()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path in ("/sdapi/v1/txt2img", "/sdapi/v1/img2img"):  # the same job either way
            self.paths.append(request.url.path)
            return await self._txt2img(json.loads(request.content))
        if request.url.path == "/sdapi/v1/progress":
            return self._progress()
        return httpx.Response(404, json={"detail": "Not Found"})

    async def _txt2img(self, body: dict[str, Any]) -> httpx.Response:
        self.calls += 1
        mode = self.mode(self.calls)
        self._job_polls, self._polled_out = 0, asyncio.Event()
        self.running.set()
        try:
            if mode == "hang":
                await asyncio.Event().wait()
            await self._polled_out.wait()
        except asyncio.CancelledError:
            self.txt2img_cancelled += 1
            raise
        finally:
            self.running.clear()
        if mode == "http_500":
            return httpx.Response(500, json={"error": "OutOfMemoryError", "detail": "", "body": "", "errors": "CUDA out of memory"})
        n = body.get("n_iter", 1) * body.get("batch_size", 1)
        seeds = [body["seed"] + i if body.get("seed", -1) != -1 else 1000 + i for i in range(n)]
        images = [_png_b64(self.calls * 16 + i) for i in range(n)]
        return httpx.Response(200, json=txt2img_payload(body, seeds, images, info_fixture="streaming/a1111/txt2img_200.json"))

    def _progress(self) -> httpx.Response:
        self.polls += 1
        if self.txt2img_cancelled:
            self.polls_after_cancel += 1
        body = fixture("streaming/a1111/progress_200.json")
        if not self.running.is_set():
            body["state"] |= {"job_count": 0, "sampling_step": 0}
            body["current_image"] = None
            return httpx.Response(200, json=body)
        self._job_polls += 1
        k = min(self._job_polls, len(self.steps))
        body["state"] |= {"sampling_step": self.steps[k - 1], "sampling_steps": 20}
        body["current_image"] = _png_b64(100 + k)
        if self._job_polls >= len(self.steps):
            self._polled_out.set()
        return httpx.Response(200, json=body)
