"""Protocol-faithful fake providers for httpx.MockTransport, fed by tests/fixtures/<provider>/.

Each fake serves its provider's real wire flow (OpenAI one POST; BFL submit -> poll -> delivery
download; A1111 one POST; ComfyUI /prompt -> /history -> /view) and can be told to fail at the
generation step with a status + body, a transport error, malformed JSON, no image, or a non-image
body labelled as an image.
"""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from gateway.canonical import CallContext

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NOT_AN_IMAGE = b'{"error": "this is JSON, not an image"}'
SECRET = "sk-test-SECRET-key-0123456789"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def fixture_headers(name: str) -> dict[str, str]:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    entry = next(f for f in manifest["files"] if f["file"] == name)
    return dict(entry.get("headers", {}))


def png(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def distinct_png(i: int) -> bytes:
    return png(((37 * i) % 256, (91 * i + 40) % 256, (53 * i + 90) % 256))


def ctx(model: str, *, seconds: float = 30.0, options: dict[str, object] | None = None) -> CallContext:
    return CallContext(
        request_id="req-test",
        provider_model=model,
        deadline=time.monotonic() + seconds,
        options=options or {},
    )


@dataclass
class Failure:
    """What the fake does at the generation step instead of succeeding."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    raise_exc: Exception | None = None
    no_image: bool = False
    not_image: bool = False
    malformed: bool = False
    image: bytes | None = None  # the image delivered instead of a good one (truncated, corrupt...)


@dataclass
class Fake:
    failure: Failure | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    calls: int = 0  # generation calls (one per billed job)

    def image(self) -> bytes:
        if self.failure and self.failure.image is not None:
            return self.failure.image
        return NOT_AN_IMAGE if self.failure and self.failure.not_image else distinct_png(self.calls)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.route(request)

    def route(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError

    def fail_generation(self, request: httpx.Request) -> httpx.Response | None:
        """The injected failure for the generation step, if it happens there."""
        failure = self.failure
        if failure is None:
            return None
        if failure.raise_exc is not None:
            raise failure.raise_exc
        if failure.malformed:
            return httpx.Response(200, content=b"{not json", headers={"content-type": "application/json"})
        if failure.status != 200:
            headers = {"content-type": "application/json", **failure.headers}
            return httpx.Response(failure.status, content=failure.body, headers=headers)
        return None


def json_response(
    payload: object, status: int = 200, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.Response(status, json=payload, headers=headers)


class FakeOpenAI(Fake):
    def route(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/images/generations"):
            failed = self.fail_generation(request)
            if failed is not None:
                return failed
            self.calls += 1
            body = json.loads(request.content)
            if self.failure and self.failure.no_image:
                return json_response({"created": 1, "data": []})
            data = [{"b64_json": base64.b64encode(self.image()).decode()} for _ in range(body.get("n", 1))]
            return json_response({"created": 1700000000, "data": data}, headers={"x-request-id": "req_1"})
        if request.url.host.endswith("blob.core.windows.net"):
            return httpx.Response(200, content=self.image(), headers={"content-type": "image/png"})
        return httpx.Response(404, json={"error": {"code": "not_found"}})


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


PROVIDER_DRAWN_SEED = 3_735_928_559  # what A1111 / BFL may pick themselves: > 2^31-1


class FakeA1111(Fake):
    own_seed = PROVIDER_DRAWN_SEED

    def route(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/sdapi/v1/txt2img":
            failed = self.fail_generation(request)
            if failed is not None:
                return failed
            self.calls += 1
            body = json.loads(request.content)
            return json_response(self.result(body))
        return json_response({"detail": "Not Found"}, 404)

    def result(self, body: dict[str, Any]) -> dict[str, Any]:
        n = body.get("n_iter", 1) * body.get("batch_size", 1)
        # Like A1111's get_fixed_seed: -1 becomes random.randrange(4294967294), often above 2^31-1.
        base_seed = body["seed"] if body.get("seed", -1) != -1 else self.own_seed
        seeds = [base_seed + i for i in range(n)]
        images = [] if self.failure and self.failure.no_image else [self._b64(i) for i in range(n)]
        info = fixture("a1111/txt2img_200.json")["info"]
        info = json.loads(info) | {"all_seeds": seeds, "seed": seeds[0], "index_of_first_image": 0}
        return {"images": images, "parameters": body, "info": json.dumps(info)}

    def _b64(self, i: int) -> str:
        data = NOT_AN_IMAGE if self.failure and self.failure.not_image else distinct_png(self.calls * 16 + i)
        data = self.failure.image if self.failure and self.failure.image is not None else data
        return base64.b64encode(data).decode()


class FakeComfy(Fake):
    """POST /prompt -> /history/{id} ({} for `pending_polls` polls) -> /view."""

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

    def route(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        prompt_id = fixture("comfyui/prompt_200.json")["prompt_id"]
        if request.method == "POST" and path == "/prompt":
            failed = self.fail_generation(request)
            if failed is not None:
                return failed
            self.calls += 1
            self.prompts.append(json.loads(request.content))
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


@dataclass(frozen=True)
class AdapterCase:
    """One adapter under contract test: how to build it and its fake."""

    name: str
    kind: str
    model: str
    settings: dict[str, object]
    fake: Callable[[Failure | None], Fake]


CASES = [
    AdapterCase("openai", "openai", "dall-e-2", {"api_key": SECRET}, FakeOpenAI),
    AdapterCase(
        "flux",
        "flux",
        "flux-pro-1.1",
        {"api_key": SECRET, "poll_interval_seconds": 0.0},
        lambda f: FakeBFL(f),
    ),
    AdapterCase(
        "a1111",
        "local_diffusion",
        "v1-5-pruned-emaonly",
        {"backend": "a1111", "base_url": "http://sd.local:7860", "username": "u", "password": SECRET},
        FakeA1111,
    ),
    AdapterCase(
        "comfyui",
        "local_diffusion",
        "v1-5-pruned-emaonly.safetensors",
        {"backend": "comfyui", "base_url": "http://comfy.local:8188", "poll_interval_seconds": 0.0},
        lambda f: FakeComfy(f),
    ),
]
