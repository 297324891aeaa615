"""`mock`: an honest test double of an image provider.

It makes real images with Pillow, deterministic from (prompt, seed, size, format), at the requested
size, and can inject latency and failures. The bundled routing uses it so the gateway works offline;
tests, benchmarks and operators rehearsing fallbacks use it too. It never touches the network.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import random
from collections.abc import Mapping
from typing import ClassVar, Literal

import httpx
import msgspec
from PIL import Image, ImageDraw

from adapters.base import AdapterSettingsError, decode_settings, register
from gateway.canonical import (
    CallContext,
    Capabilities,
    ImageRequest,
    OutputFormat,
    ProviderImage,
    ProviderResult,
)
from gateway.errors import FailureClass, ProviderError

_PIL_FORMAT = {OutputFormat.PNG: "PNG", OutputFormat.JPEG: "JPEG", OutputFormat.WEBP: "WEBP"}


_Failure = Literal[
    "connect",
    "transient",
    "ambiguous",
    "rate_limited",
    "credential",
    "quota",
    "model_unavailable",
    "caller_fault",
    "content_policy",
    "upstream_invalid",
]


class MockSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    latency_ms: float = msgspec.field(default=0.0)
    latency_jitter_ms: float = 0.0
    failure_rate: float = 0.0  # 0..1: share of calls that fail with `failure_class`
    failure_class: _Failure = "transient"
    # Deterministic outcomes of the first calls, in order ("ok" or a failure class); after the
    # script runs out, `failure_rate` applies.
    script: list[_Failure | Literal["ok"]] = msgspec.field(default_factory=list)
    retry_after_seconds: float | None = None  # sent with rate_limited failures
    max_n: int = 4  # images per call; larger n is fanned out by the gateway
    native_format: Literal["png", "jpeg", "webp"] | None = None  # None: produce the requested format
    rng_seed: int | None = None  # fixes the failure/latency draws (tests); None: OS entropy


@register("mock")
class MockAdapter:
    kind: ClassVar[str] = "mock"

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._provider = provider
        self._settings = decode_settings(MockSettings, settings)
        if not 0.0 <= self._settings.failure_rate <= 1.0:
            raise AdapterSettingsError("must be between 0 and 1", "failure_rate")
        self._rng = random.Random(self._settings.rng_seed)
        self.calls = 0  # observable by tests: how many generate() calls reached this double

    def capabilities(self, provider_model: str) -> Capabilities:
        return Capabilities(
            max_n=self._settings.max_n,
            supports_seed=True,
            supports_negative_prompt=True,
            supports_steps=True,
            supports_guidance=True,
            formats=[OutputFormat.PNG, OutputFormat.JPEG, OutputFormat.WEBP],
        )

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        self.calls += 1
        settings = self._settings
        delay = (settings.latency_ms + self._rng.uniform(0, settings.latency_jitter_ms)) / 1000
        if delay > 0:
            await asyncio.sleep(delay)
        if self.calls <= len(settings.script):
            step = settings.script[self.calls - 1]
            if step != "ok":
                raise self._injected_failure(step)
        elif settings.failure_rate and self._rng.random() < settings.failure_rate:
            raise self._injected_failure(settings.failure_class)
        fmt = OutputFormat(settings.native_format) if settings.native_format else req.output_format
        width, height = _size_for(req)
        base_seed = req.seed if req.seed is not None else self._rng.randrange(0, 2**31)
        images = [
            ProviderImage(data=render(req.prompt, base_seed + i, width, height, fmt), seed=base_seed + i)
            for i in range(req.n)
        ]
        raw: dict[str, object] = {
            "id": f"mock-{ctx.request_id}-{ctx.attempt}",
            "model": ctx.provider_model,
            "created": 0,
            "data": [{"b64_json": "<elided>", "seed": image.seed} for image in images],
            "size": f"{width}x{height}",
            "format": fmt.value,
        }
        return ProviderResult(images=images, raw=raw)

    async def aclose(self) -> None:
        return None

    def _injected_failure(self, name: str) -> ProviderError:
        failure = FailureClass(name)
        status = _STATUS_FOR_FAILURE.get(failure)
        return ProviderError(
            self._provider,
            failure,
            f"mock provider injected a {failure.value} failure",
            status=status,
            retry_after=self._settings.retry_after_seconds if failure is FailureClass.RATE_LIMITED else None,
        )


_STATUS_FOR_FAILURE = {
    FailureClass.TRANSIENT: 503,
    FailureClass.RATE_LIMITED: 429,
    FailureClass.CREDENTIAL: 401,
    FailureClass.QUOTA: 402,
    FailureClass.MODEL_UNAVAILABLE: 404,
    FailureClass.CALLER_FAULT: 400,
    FailureClass.CONTENT_POLICY: 400,
    FailureClass.UPSTREAM_INVALID: 200,
}


def _size_for(req: ImageRequest) -> tuple[int, int]:
    if req.width and req.height:
        return req.width, req.height
    if req.aspect_ratio:
        w, h = req.aspect_ratio
        long_side = req.width or req.height or 1024
        if w >= h:
            return long_side, max(64, round(long_side * h / w))
        return max(64, round(long_side * w / h)), long_side
    side = req.width or req.height or 1024
    return side, side


@functools.lru_cache(maxsize=64)
def render(prompt: str, seed: int, width: int, height: int, fmt: OutputFormat) -> bytes:
    """A deterministic picture for (prompt, seed): a two-colour gradient with a few shapes."""
    digest = hashlib.sha256(f"{seed}\x00{prompt}".encode()).digest()
    top, bottom = digest[0:3], digest[3:6]
    column = Image.linear_gradient("L").resize((1, height))
    image = Image.composite(
        Image.new("RGB", (1, height), tuple(bottom)), Image.new("RGB", (1, height), tuple(top)), column
    )
    image = image.resize((width, height))
    draw = ImageDraw.Draw(image)
    for i in range(4):
        x, y = digest[8 + i] / 255 * width, digest[12 + i] / 255 * height
        radius = max(4, digest[16 + i] / 255 * min(width, height) / 3)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=tuple(digest[20 + i : 23 + i]))
    out = io.BytesIO()
    image.save(out, format=_PIL_FORMAT[fmt], **({"quality": 90} if fmt is not OutputFormat.PNG else {}))
    return out.getvalue()
