"""The HTTP exchange with a provider: one request, its failures, its status classes.

httpx exceptions are translated into `ProviderError` here and nowhere else:

    httpx.TransportError
     ├── ConnectError, ConnectTimeout, PoolTimeout, UnsupportedProtocol, ProxyError
     │                                   -> FailureClass.CONNECT    (nothing reached the provider)
     └── WriteError, WriteTimeout, ReadError, ReadTimeout, RemoteProtocolError, anything else
                                         -> FailureClass.AMBIGUOUS  (sent, or maybe sent: outcome unknown)
    httpx.DecodingError (incl. http_client.ResponseRefused: over the response byte cap)
                                         -> FailureClass.UPSTREAM_INVALID (an answer we will not take)

Also here: Retry-After parsing, the default FailureClass of a status, JSON decoding that fails as
UPSTREAM_INVALID, and the deadline arithmetic every call shares. Downloads of result URLs are in
`downloads.py`, redaction in `redaction.py`, image bytes in `images.py`.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import httpx
import msgspec

from gateway.errors import FailureClass, ProviderError
from gateway.http_client import ResponseRefused, direct
from gateway.logsafe import escape_controls
from gateway.upstream.redaction import redact
from gateway.upstream.spans import cut_strings

_CONNECT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
)
RETRY_AFTER_CAP = 3600.0
FilePart = tuple[str, bytes, str]  # (file name, bytes, content type) of one multipart file
Files = Mapping[str, FilePart] | Sequence[tuple[str, FilePart]]
CONNECT_TIMEOUT = 10.0


def transport_error(provider: str, exc: Exception, *, what: str = "request") -> ProviderError:
    """Map an httpx exception to a ProviderError; the message names the class, never the URL or headers."""
    if isinstance(exc, httpx.DecodingError):  # the provider answered, with a body we refuse
        detail = str(exc) if isinstance(exc, ResponseRefused) else "body does not decode"
        return ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} {what}: {detail}")
    if isinstance(exc, _CONNECT_ERRORS):
        failure, detail = FailureClass.CONNECT, "could not connect"
    else:
        failure, detail = FailureClass.AMBIGUOUS, "no complete response after sending"
    return ProviderError(provider, failure, f"{provider} {what}: {detail} ({type(exc).__name__})")


async def send(
    client: httpx.AsyncClient,
    provider: str,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    json: object = None,
    files: Files | None = None,
    data: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float | None = None,
    what: str = "request",
) -> httpx.Response:
    """One HTTP exchange, body read fully; transport failures become ProviderError (never retried here).

    The body is `json` (sent as application/json), or `files` (name -> (filename, bytes, content
    type), or a list of (name, (filename, bytes, content type)) pairs when a name repeats, as
    OpenAI's `image[]`) and/or `data` form fields, which httpx encodes as multipart/form-data
    (image edits, Stability) with its own boundary in the content-type. The one multipart sender."""
    if json is not None and (files is not None or data is not None):
        raise ValueError("send takes either json or files/data, not both")
    content = None if json is None else msgspec.json.encode(json)
    merged = {"content-type": "application/json", **(headers or {})} if content is not None else headers
    fast = direct(client)
    if fast is not None and files is None and data is None and not params and auth is None and "@" not in url:
        try:  # aiohttp directly: the same exchange without httpx's layers (gateway/http_client.py)
            return await fast.request_read(
                method, url, content, {**client.headers, **(merged or {})}, _timeout(client, timeout)
            )
        except httpx.HTTPError as exc:
            raise transport_error(provider, exc, what=what) from exc
    try:
        return await client.request(
            method,
            url,
            content=content,
            files=files,
            data=data,
            headers=merged,
            params=params,
            auth=httpx.BasicAuth(*auth) if auth else None,
            timeout=_timeout(client, timeout),
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        raise transport_error(provider, exc, what=what) from exc


async def open_stream(client: httpx.AsyncClient, provider: str, request: httpx.Request) -> httpx.Response:
    """Send `request` and return the response with its body unread (SSE); the caller closes it.
    Transport failures before the headers arrive become ProviderError, as in `send`."""
    try:
        return await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise transport_error(provider, exc) from exc


def retry_after(headers: Mapping[str, str] | httpx.Headers, body_hint: object = None) -> float | None:
    """Seconds from `retry-after-ms`, `retry-after` (seconds or HTTP date), or a numeric body hint."""
    lower = {k.lower(): v for k, v in headers.items()}
    for key, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = lower.get(key)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            pass
        else:
            if not math.isnan(seconds):  # "nan" parses as a float; it must never reach a sleep
                return _bounded(seconds)
            continue
        try:
            parsed = email.utils.parsedate_to_datetime(value) if key == "retry-after" else None
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            return _bounded(parsed.timestamp() - time.time())
    if isinstance(body_hint, int | float) and not isinstance(body_hint, bool):
        return _bounded(float(body_hint))
    return None


def retry_hint(
    failure: FailureClass, headers: Mapping[str, str] | httpx.Headers, body_hint: object = None
) -> float | None:
    """Retry-After for failures that may be retried (429 and explicit 5xx); None for the rest."""
    if failure in (FailureClass.RATE_LIMITED, FailureClass.TRANSIENT):
        return retry_after(headers, body_hint)
    return None


def decode_json(
    provider: str, response: httpx.Response, *, what: str = "response", blob_key: str | None = None
) -> Any:
    """The body as JSON, or UPSTREAM_INVALID (the provider said 2xx but sent garbage). `blob_key`:
    string values under that key are cut out before the decode (`gateway.upstream.spans`)."""
    try:
        if blob_key is None:
            return msgspec.json.decode(response.content)
        cut = cut_strings(response.content, blob_key)
        return cut.restore(msgspec.json.decode(cut.skeleton))
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested past msgspec's depth limit
        raise ProviderError(
            provider,
            FailureClass.UPSTREAM_INVALID,
            f"{provider} {what} is not valid JSON",
            status=response.status_code,
        ) from None


T = TypeVar("T")


def decode_as(
    provider: str,
    value: object,
    type_: type[T],
    *,
    message: str,
    failure: FailureClass = FailureClass.UPSTREAM_INVALID,
    status: int | None = None,
    provider_code: str | None = None,
) -> T:
    """Decoded JSON as the provider's body Struct (`type_`), else a ProviderError with `message`:
    adapters read typed fields instead of probing dicts with isinstance."""
    try:
        return msgspec.convert(value, type_)
    except (msgspec.ValidationError, RecursionError):
        raise ProviderError(provider, failure, message, status=status, provider_code=provider_code) from None


POLL_GARBLED = "poll_garbled"  # provider_code of a 2xx poll answer that is not a JSON object


def decode_poll_json(
    provider: str, response: httpx.Response, *, what: str = "polling response"
) -> dict[str, Any]:
    """A poll answer as a JSON object. Anything else in a 2xx (a proxy's HTML page, a truncated
    body, JSON that is not an object) is TRANSIENT, not UPSTREAM_INVALID: a poll is an idempotent GET
    about a task that exists and may be billed, so it is asked again like a 5xx or a reset would
    be, never abandoned at once."""
    try:
        payload = msgspec.json.decode(response.content)
    except (msgspec.DecodeError, RecursionError):
        payload = None
    if not isinstance(payload, dict):
        raise ProviderError(
            provider,
            FailureClass.TRANSIENT,
            f"{provider} {what} is not a JSON object",
            status=response.status_code,
            provider_code=POLL_GARBLED,
        )
    return payload


def parse_error_body(body: bytes) -> Any:
    """A provider's error body as JSON if it is JSON, else None (error bodies are best effort)."""
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None


DETAIL_MAX_CHARS = 200


def provider_detail(body: bytes) -> str | None:
    """The provider's explanation in an error body (`error.message`, `error`, `detail` or `message`
    in JSON; else short plain text), fit for an operator log: known key shapes redacted, control
    characters escaped, cut at DETAIL_MAX_CHARS. None when there is nothing readable."""
    parsed = parse_error_body(body)
    text: object = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        nested = error.get("message") if isinstance(error, dict) else error
        candidates = (nested, parsed.get("detail"), parsed.get("message"))
        text = next((c for c in candidates if isinstance(c, str) and c.strip()), None)
    elif parsed is None and body and not body.lstrip().startswith(b"<"):  # plain text, not an HTML page
        text = body[: DETAIL_MAX_CHARS * 4].decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return None
    text = escape_controls(redact(text[: DETAIL_MAX_CHARS * 4], []))
    return text if len(text) <= DETAIL_MAX_CHARS else text[:DETAIL_MAX_CHARS] + "..."


def status_failure(status: int) -> FailureClass:
    """The default class for an HTTP status; adapters refine it with parsed provider error codes."""
    if status in (408, 409) or status >= 500:
        return FailureClass.TRANSIENT
    if status == 429:
        return FailureClass.RATE_LIMITED
    if status in (401, 403):
        return FailureClass.CREDENTIAL
    if status == 402:
        return FailureClass.QUOTA
    if status == 404:
        return FailureClass.MODEL_UNAVAILABLE
    if 300 <= status < 400:  # we never follow provider redirects: a bad upstream answer, not our request
        return FailureClass.UPSTREAM_INVALID
    return FailureClass.CALLER_FAULT


def remaining_or_deadline(provider: str, deadline: float) -> float:
    """Seconds left before `deadline` (monotonic); DEADLINE failure when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise ProviderError(provider, FailureClass.DEADLINE, f"{provider}: request deadline passed")
    return left


def _timeout(client: httpx.AsyncClient, seconds: float | None) -> httpx.Timeout:
    if seconds is None:
        return client.timeout  # what httpx would use by default (USE_CLIENT_DEFAULT)
    return httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT))


def _bounded(seconds: float) -> float:
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)
