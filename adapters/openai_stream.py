"""gpt-image streaming: `stream: true` + `partial_images` on POST /images/generations (and on the
multipart POST /images/edits).

The response is `text/event-stream` (providers.md 1.2): `image_generation.partial_image` events
(`image_edit.partial_image` for an edit) carry previews, one `image_generation.completed`
(`image_edit.completed`) event carries the final image, and an object with
an `error` key means the provider gave up. Streaming takes n = 1 only, so the gateway fans out one
call per image (`Capabilities.stream_max_n = 1`). Cancelling the call closes the HTTP response.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx
import msgspec

from adapters.sse import iter_sse
from gateway import upstream
from gateway.canonical import PreviewImage, ProviderImage, ProviderResult, Report
from gateway.errors import FailureClass, ProviderError

Classify = Callable[[int, httpx.Headers, bytes], ProviderError]
MAX_PREVIEWS = 3  # OpenAI's partial_images maximum: more is a misbehaving server, not relayed
_POLICY_CODES = ("content_policy_violation", "moderation_blocked")


class _Partial(msgspec.Struct, frozen=True, tag="image_generation.partial_image", tag_field="type"):
    b64_json: str
    partial_image_index: int = 0


class _Completed(msgspec.Struct, frozen=True, tag="image_generation.completed", tag_field="type"):
    b64_json: str


class _EditPartial(msgspec.Struct, frozen=True, tag="image_edit.partial_image", tag_field="type"):
    b64_json: str
    partial_image_index: int = 0


class _EditCompleted(msgspec.Struct, frozen=True, tag="image_edit.completed", tag_field="type"):
    b64_json: str


_EVENT = msgspec.json.Decoder(_Partial | _Completed | _EditPartial | _EditCompleted)


async def stream_image(
    client: httpx.AsyncClient,
    provider: str,
    request: httpx.Request,
    classify: Classify,
    warnings: list[str],
    report: Report,
) -> ProviderResult:
    """Send `request` (a streaming generation), report its previews, return its final image."""
    response = await upstream.open_stream(client, provider, request)
    try:
        if response.status_code != 200:
            raise classify(response.status_code, response.headers, await response.aread())
        media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "text/event-stream":  # a server that ignored `stream`: a 200 we cannot use
            raise ProviderError(
                provider,
                FailureClass.UPSTREAM_INVALID,
                f"{provider} answered a stream request with {media or 'no content type'}, not text/event-stream",
                status=200,
            )
        events = previews = 0
        async for message in iter_sse(response.aiter_lines()):
            if message.data == "[DONE]":
                break
            events += 1
            update = _translate(provider, message.data, warnings, preview=previews < MAX_PREVIEWS)
            if isinstance(update, ProviderResult):
                return update
            if update is not None:
                previews += 1
                report(update)
    except httpx.HTTPError as exc:
        raise upstream.transport_error(provider, exc, what="stream") from exc
    finally:
        await response.aclose()
    if events == 0:  # a clean end with nothing at all: a 200 with no image, not an unknown outcome
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} stream ended without an event", status=200)
    raise ProviderError(provider, FailureClass.AMBIGUOUS, f"{provider} stream ended before the final image")


def _translate(
    provider: str, data: str, warnings: list[str], *, preview: bool = True
) -> PreviewImage | ProviderResult | None:
    try:
        return _translate_event(provider, data, warnings, preview=preview)
    except RecursionError:  # JSON nested past msgspec's depth limit: as unreadable as a DecodeError
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} sent a non-JSON event") from None


def _translate_event(
    provider: str, data: str, warnings: list[str], *, preview: bool
) -> PreviewImage | ProviderResult | None:
    try:
        event = _EVENT.decode(data)
    except msgspec.ValidationError:
        _raise_if_error(provider, data)
        return None  # an event type we do not know: skip it
    except msgspec.DecodeError:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} sent a non-JSON event") from None
    if isinstance(event, _Partial | _EditPartial):
        if not preview:  # past MAX_PREVIEWS: not even decoded
            return None
        blob = upstream.decode_base64(event.b64_json)
        return None if blob is None else PreviewImage(data=blob)
    blob = upstream.decode_base64(event.b64_json)
    if blob is None:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} final image is not base64")
    raw = upstream.elide_base64(msgspec.json.decode(data))
    return ProviderResult(
        images=[ProviderImage(data=upstream.require_image(provider, blob))],
        raw=raw if isinstance(raw, dict) else {},
        warnings=warnings,
    )


def _raise_if_error(provider: str, data: str) -> None:
    payload: Any = msgspec.json.decode(data)
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, Mapping):
        return
    code = error.get("code") if isinstance(error.get("code"), str) else None
    failure = FailureClass.CONTENT_POLICY if code in _POLICY_CODES else FailureClass.TRANSIENT
    raise ProviderError(provider, failure, f"{provider} stream error ({code or 'error'})", provider_code=code)
