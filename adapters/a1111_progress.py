"""AUTOMATIC1111 / Forge live progress: `GET /sdapi/v1/progress?skip_current_image=false`.

The endpoint is global to the server, not per request. The local-diffusion adapter therefore
serialises its jobs per server (A1111 runs one job at a time under its queue lock anyway) and only
polls while its own job is in flight; see docs/streaming.md for what remains shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine

import msgspec

from gateway import upstream
from gateway.canonical import PreviewImage, ProgressUpdate, ProviderResult

PROGRESS_PATH = "/sdapi/v1/progress"
PROGRESS_PARAMS = {"skip_current_image": "false"}


class _State(msgspec.Struct, frozen=True):
    sampling_step: int = 0
    sampling_steps: int = 0
    job_count: int = 0
    interrupted: bool = False


class ProgressBody(msgspec.Struct, frozen=True):
    progress: float = 0.0
    state: _State = msgspec.field(default_factory=_State)
    current_image: str | None = None


_DECODER = msgspec.json.Decoder(ProgressBody)


class ProgressFollower:
    """Turns successive progress bodies into updates, dropping repeats (polls outrun the sampler)."""

    def __init__(self) -> None:
        self._last_step: tuple[int, int] | None = None
        self._last_image: str | None = None

    def feed(self, body: bytes) -> list[ProgressUpdate | PreviewImage]:
        try:
            progress = _DECODER.decode(body)
        except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deep
            return []  # progress is advisory: a bad body is skipped, never fatal
        updates: list[ProgressUpdate | PreviewImage] = []
        state = progress.state
        if state.job_count > 0 and state.sampling_steps > 0:
            step = (min(state.sampling_step, state.sampling_steps), state.sampling_steps)
            if step != self._last_step:
                self._last_step = step
                updates.append(ProgressUpdate(step=step[0], total_steps=step[1]))
        image = progress.current_image
        if image and image != self._last_image:
            self._last_image = image
            data = upstream.decode_base64(image, data_url=True)
            if data:
                updates.append(PreviewImage(data=data))
        return updates


async def follow(
    job: Coroutine[None, None, ProviderResult],
    poll: Callable[[], Awaitable[bytes]],
    *,
    interval: float,
    report: Callable[[ProgressUpdate | PreviewImage], None],
    previews: bool = True,
) -> ProviderResult:
    """Run `job` (the txt2img call) and poll progress every `interval` seconds until it ends.

    Cancelling this cancels the txt2img request and stops polling. The server keeps computing a job
    whose request was dropped: its `/sdapi/v1/interrupt` is server-wide, so it is never sent.
    """
    task = asyncio.ensure_future(job)
    follower = ProgressFollower()
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=interval)
            if task.done():
                break
            for update in follower.feed(await poll()):
                if previews or isinstance(update, ProgressUpdate):
                    report(update)
        return task.result()
    finally:
        if not task.done():
            task.cancel()
