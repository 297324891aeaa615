"""`mock`: an honest test double of an image provider.

It makes real images with Pillow, deterministic from (prompt, seed, size, format), at the requested
size, and can inject latency and failures. The bundled routing uses it so the gateway works offline;
tests, benchmarks and operators rehearsing fallbacks use it too. It never touches the network.

It streams natively: `stream_steps` progress reports (step 0 at once, then one per slice of the
latency) and `stream_previews` low-resolution previews per image, then the final images. An injected
failure surfaces after `fail_at_step` progress reports, so a stream can die half-way like a real one.

Drawing is CPU work (an 8192x8192 PNG takes seconds and ~200 MB): it runs in the gateway's bounded
image pool (gateway/imaging.py `off_loop`), never on the event loop, and sizes are capped by
`max_side` (default 2048: a bundled deployment cannot be made to draw 64-megapixel images).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import random
from collections.abc import Mapping
from typing import ClassVar

import httpx
from PIL import Image, ImageDraw

from adapters.base import AdapterSettingsError, decode_settings
from adapters.mock_edit import render_edit
from adapters.mock_translate import MockCall, MockSettings, encode_edit, encode_request
from gateway import imaging
from gateway.canonical import (
    CallContext,
    Capabilities,
    ImageRequest,
    OutputFormat,
    PreviewImage,
    ProgressUpdate,
    ProviderImage,
    ProviderResult,
    Report,
)
from gateway.errors import FailureClass, ProviderError

_PIL_FORMAT = {OutputFormat.PNG: "PNG", OutputFormat.JPEG: "JPEG", OutputFormat.WEBP: "WEBP"}


class MockAdapter:
    kind: ClassVar[str] = "mock"

    def __init__(self, *, provider: str, settings: Mapping[str, object], client: httpx.AsyncClient) -> None:
        self._provider = provider
        self._settings = decode_settings(MockSettings, settings)
        if not 0.0 <= self._settings.failure_rate <= 1.0:
            raise AdapterSettingsError("must be between 0 and 1", "failure_rate")
        if not 64 <= self._settings.max_side <= 8192:
            raise AdapterSettingsError("must be between 64 and 8192", "max_side")
        self._rng = random.Random(self._settings.rng_seed)
        # Observable by tests: calls that reached this double, streamed steps run, streams cancelled.
        self.calls = 0
        self.steps_done = 0
        self.cancelled = 0
        self.edits = 0  # edit calls among `calls`

    def capabilities(self, provider_model: str) -> Capabilities:
        return Capabilities(
            max_n=self._settings.max_n,
            supports_seed=True,
            supports_negative_prompt=True,
            supports_steps=True,
            supports_guidance=True,
            formats=[OutputFormat.PNG, OutputFormat.JPEG, OutputFormat.WEBP],
            max_side=self._settings.max_side,
            streaming=True,
            edit=self._settings.edit,
            max_input_images=self._settings.max_input_images if self._settings.edit else 0,
            edit_mask=self._settings.edit and self._settings.edit_mask,
        )

    async def generate(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        self.calls += 1
        call, warnings = encode_request(req, model=ctx.provider_model, settings=self._settings)
        return await self._call(call, warnings, ctx)

    async def edit(self, req: ImageRequest, ctx: CallContext) -> ProviderResult:
        """The generate call drawn over the base image (adapters/mock_edit.py)."""
        self.calls += 1
        self.edits += 1
        call, warnings = encode_edit(req, model=ctx.provider_model, settings=self._settings)
        return await self._call(call, warnings, ctx)

    async def _call(self, call: MockCall, warnings: list[str], ctx: CallContext) -> ProviderResult:
        delay, failure, base_seed = self._draw(call)
        if ctx.report is not None:
            return await self._stepped(call, warnings, ctx, ctx.report, delay, failure, base_seed)
        if delay > 0:
            await asyncio.sleep(delay)
        if failure is not None:
            raise self._injected_failure(failure)
        return await self._result(call, warnings, ctx, base_seed)

    async def _stepped(
        self,
        call: MockCall,
        warnings: list[str],
        ctx: CallContext,
        report: Report,
        delay: float,
        failure: str | None,
        base_seed: int,
    ) -> ProviderResult:
        """The streamed call: `stream_steps` progress reports (the latency spread over them) and
        previews of the last `stream_previews` steps; a scripted failure strikes at `fail_at_step`."""
        steps = max(1, self._settings.stream_steps)
        preview_steps = set(range(steps, max(0, steps - self._settings.stream_previews), -1))
        try:
            for step in range(steps + 1):
                if failure is not None and step >= self._settings.fail_at_step:
                    raise self._injected_failure(failure)
                if step:
                    await asyncio.sleep(delay / steps)
                    self.steps_done += 1
                report(ProgressUpdate(step=step, total_steps=steps))
                if step in preview_steps:
                    for i in range(call.n):
                        data = await imaging.off_loop(_preview, call, base_seed + i, step)
                        report(PreviewImage(index=i, data=data))
            if failure is not None:
                raise self._injected_failure(failure)
            return await self._result(call, warnings, ctx, base_seed)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    def _draw(self, call: MockCall) -> tuple[float, str | None, int]:
        """This call's latency, its injected failure (if any) and its first seed, drawn in a fixed order."""
        settings = self._settings
        delay = (settings.latency_ms + self._rng.uniform(0, settings.latency_jitter_ms)) / 1000
        failure: str | None = None
        if self.calls <= len(settings.script):
            step = settings.script[self.calls - 1]
            failure = None if step == "ok" else step
        elif settings.failure_rate and self._rng.random() < settings.failure_rate:
            failure = settings.failure_class
        if failure is not None:
            return delay, failure, call.seed or 0
        base_seed = call.seed if call.seed is not None else self._rng.randrange(0, 2**31)
        return delay, settings.failure_class if base_seed in settings.fail_seeds else None, base_seed

    async def _result(
        self, call: MockCall, warnings: list[str], ctx: CallContext, base_seed: int
    ) -> ProviderResult:
        width, height, fmt = call.width, call.height, call.format
        images = []
        for i in range(call.n):  # one at a time: the pool bounds concurrency across calls
            if call.base is not None:
                data = await imaging.off_loop(
                    render_edit, call.base, call.mask, call.references, call.prompt, base_seed + i, (width, height), fmt
                )
            else:
                data = await imaging.off_loop(render, call.prompt, base_seed + i, width, height, fmt)
            images.append(ProviderImage(data=data, seed=base_seed + i))
        raw: dict[str, object] = {
            "id": f"mock-{ctx.request_id}-{ctx.attempt}",
            "model": ctx.provider_model,
            "created": 0,
            "data": [{"b64_json": "<elided>", "seed": image.seed} for image in images],
            "size": f"{width}x{height}",
            "format": fmt.value,
        }
        return ProviderResult(images=images, raw=raw, warnings=warnings)

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


def _preview(call: MockCall, seed: int, step: int) -> bytes:
    """A coarse JPEG of the final picture: the resolution grows with the step (deterministic)."""
    scale = max(1, 32 // max(1, step))
    width, height = max(8, call.width // scale), max(8, call.height // scale)
    if call.base is not None:  # an edit's preview is the edit, coarse
        return render_edit(call.base, call.mask, call.references, call.prompt, seed, (width, height), OutputFormat.JPEG)
    return render(call.prompt, seed, width, height, OutputFormat.JPEG)


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
