"""The one boundary between adapters and the network: httpx calls, their failures, safe downloads.

httpx exceptions are translated into `ProviderError` here and nowhere else:

    httpx.TransportError
     ├── ConnectError, ConnectTimeout, PoolTimeout, UnsupportedProtocol, ProxyError
     │                                   -> FailureClass.CONNECT    (nothing reached the provider)
     └── WriteError, WriteTimeout, ReadError, ReadTimeout, RemoteProtocolError, anything else
                                         -> FailureClass.AMBIGUOUS  (sent, or maybe sent: outcome unknown)
    httpx.DecodingError (incl. http_client.ResponseRefused: over the response byte cap)
                                         -> FailureClass.UPSTREAM_INVALID (an answer we will not take)

Also here: Retry-After parsing, JSON decoding that fails as UPSTREAM_INVALID, base64 elision and
URL redaction for `provider_metadata.raw`, and `download()` for result URLs (https only unless the
backend is local, host allow-list, redirects re-checked per hop, size cap, total timeout, no
credentials ever sent).
"""

from __future__ import annotations

import asyncio
import binascii
import email.utils
import ipaddress
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
import msgspec

from gateway.canonical import ProviderImage
from gateway.errors import FailureClass, ProviderError
from gateway.http_client import ResponseRefused
from gateway.imaging import sniff_format
from gateway.logsafe import escape_controls

_CONNECT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    httpx.ProxyError,
)
_BASE64_RUN = re.compile(r"^[A-Za-z0-9+/=\s_-]+$")
_DATA_URL = re.compile(r"^data:[\w/+.-]+;base64,", re.IGNORECASE)
ELIDE_MIN_CHARS = 256
RETRY_AFTER_CAP = 3600.0
CONNECT_TIMEOUT = 10.0
DOWNLOAD_TRANSPORT = "download_transport_error"  # provider_code of a download that got no response


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
    params: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    timeout: float | None = None,
    what: str = "request",
) -> httpx.Response:
    """One HTTP exchange, body read fully; transport failures become ProviderError (never retried here)."""
    content = None if json is None else msgspec.json.encode(json)
    merged = {"content-type": "application/json", **(headers or {})} if content is not None else headers
    try:
        return await client.request(
            method,
            url,
            content=content,
            headers=merged,
            params=params,
            auth=httpx.BasicAuth(*auth) if auth else None,
            timeout=_timeout(timeout),
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        raise transport_error(provider, exc, what=what) from exc


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


def decode_json(provider: str, response: httpx.Response, *, what: str = "response") -> Any:
    """The body as JSON, or UPSTREAM_INVALID (the provider said 2xx but sent garbage)."""
    try:
        return msgspec.json.decode(response.content)
    except (msgspec.DecodeError, RecursionError):  # RecursionError: nested past msgspec's depth limit
        raise ProviderError(
            provider,
            FailureClass.UPSTREAM_INVALID,
            f"{provider} {what} is not valid JSON",
            status=response.status_code,
        ) from None


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


BLOB_KEYS = frozenset({"b64_json", "images", "image", "current_image", "preview", "bytesBase64Encoded"})


def elide_base64(value: object, blob_keys: frozenset[str] = BLOB_KEYS) -> object:
    """A copy of a JSON value with base64 blobs replaced by a short marker (the bytes are in `images`).

    Strings under a known blob key are elided whatever their length; elsewhere any long string that
    looks like base64 or a data URL is.
    """
    if isinstance(value, dict):
        return {k: _elide_blob(v) if k in blob_keys else elide_base64(v, blob_keys) for k, v in value.items()}
    if isinstance(value, list):
        return [elide_base64(v, blob_keys) for v in value]
    long_blob = isinstance(value, str) and len(value) >= ELIDE_MIN_CHARS
    if long_blob and (_DATA_URL.match(str(value)) or _BASE64_RUN.match(str(value)[:4096])):
        return _marker(str(value))
    return value


def _elide_blob(value: object) -> object:
    if isinstance(value, str) and value and not value.startswith(("http://", "https://")):
        return _marker(value)
    if isinstance(value, list):
        return [_elide_blob(v) for v in value]
    return elide_base64(value)


def _marker(value: str) -> str:
    return f"<base64 elided: {len(value)} chars>"


def redact_url(url: str) -> str:
    """A URL safe to report: query string and userinfo removed (signed URLs carry their signature there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    query = "<redacted>" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Remove known secret values and anything shaped like an API key from provider text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return re.sub(r"\b(sk|pk|key|bfl)[-_][A-Za-z0-9*_-]{6,}", "<redacted>", text)


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """`api.bfl.ai` matches itself; `*.bfl.ai` matches any subdomain (not `bfl.ai` itself)."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def check_url(
    provider: str, url: str, allowed_hosts: Iterable[str], *, allow_http: bool = False, what: str = "URL"
) -> None:
    """Refuse a provider-supplied URL unless https (or http for local backends) on an allowed host."""
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    host = parts.hostname or ""
    reason = None
    if parts.scheme not in schemes:
        reason = f"scheme {parts.scheme!r} is not allowed"
    elif not host or not host_allowed(host, allowed_hosts):
        reason = f"host {host!r} is not on the allow-list"
    elif not allow_http and _private_ip(host):
        reason = f"host {host!r} is a private address"
    elif parts.username or parts.password:
        reason = "credentials in URL"
    if reason is not None:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} {what} refused: {reason}")


@dataclass(frozen=True, slots=True)
class DownloadPolicy:
    allowed_hosts: tuple[str, ...]
    allow_http: bool = False  # local backends only
    max_bytes: int = 50 * 1024 * 1024
    timeout: float = 120.0
    max_redirects: int = 3
    # A failed GET of a finished result: the image exists (and may be billed) but we lack it.
    # UPSTREAM_INVALID = no retry of the billed call, fallback allowed; local servers use TRANSIENT.
    transport_failure: FailureClass = FailureClass.UPSTREAM_INVALID


async def download(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    policy: DownloadPolicy,
    *,
    params: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> bytes:
    """GET a result URL under `policy`; never sends provider credentials (auth only for local servers)."""
    try:
        async with asyncio.timeout(policy.timeout):
            return await _download(client, provider, url, policy, params, auth)
    except TimeoutError:
        raise ProviderError(
            provider,
            policy.transport_failure,
            f"{provider} download timed out",
            provider_code=DOWNLOAD_TRANSPORT,
        ) from None
    except httpx.DecodingError as exc:  # too large or undecodable: never worth a retry
        raise transport_error(provider, exc, what="download") from exc
    except httpx.HTTPError as exc:
        error = transport_error(provider, exc, what="download")
        raise ProviderError(
            provider, policy.transport_failure, error.message, provider_code=DOWNLOAD_TRANSPORT
        ) from exc


# A result that was just reported ready may 404 for a moment (a CDN, or ComfyUI's /view right after
# completion; theopenco/llmgateway#1762); these statuses are worth asking again.
DOWNLOAD_RETRY_STATUSES = (404, 408, 429, 500, 502, 503, 504)


def download_retryable(exc: ProviderError) -> bool:
    """A failed result GET worth repeating: no response at all, or a transient status."""
    return exc.provider_code == DOWNLOAD_TRANSPORT or exc.status in DOWNLOAD_RETRY_STATUSES


async def download_retrying(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    policy: DownloadPolicy,
    *,
    params: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    max_errors: int,
    interval: float,
    deadline: float,
) -> bytes:
    """`download`, asked again (after `interval`, within `deadline`) up to `max_errors` times on
    the failures `download_retryable` accepts. The GET is idempotent: this never re-submits work."""
    errors = 0
    while True:
        try:
            return await download(client, provider, url, policy, params=params, auth=auth)
        except ProviderError as exc:
            errors += 1
            if not download_retryable(exc) or errors > max_errors:
                raise
        await asyncio.sleep(min(interval, remaining_or_deadline(provider, deadline)))


async def _download(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    policy: DownloadPolicy,
    params: Mapping[str, str] | None,
    auth: tuple[str, str] | None,
) -> bytes:
    for _hop in range(policy.max_redirects + 1):
        check_url(provider, url, policy.allowed_hosts, allow_http=policy.allow_http, what="download URL")
        if not policy.allow_http and await _resolves_to_private(urlsplit(url).hostname or ""):
            raise ProviderError(
                provider,
                FailureClass.UPSTREAM_INVALID,
                f"{provider} download URL refused: host resolves to a private address",
            )
        basic = httpx.BasicAuth(*auth) if auth and policy.allow_http else None
        async with client.stream("GET", url, params=params, auth=basic, follow_redirects=False) as response:
            if response.is_redirect and "location" in response.headers:
                url, params = urljoin(url, response.headers["location"]), None
                continue
            if response.status_code != 200:
                raise ProviderError(
                    provider,
                    FailureClass.UPSTREAM_INVALID,
                    f"{provider} download returned HTTP {response.status_code}",
                    status=response.status_code,
                )
            return await _read_capped(provider, response, policy.max_bytes)
    raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} download: too many redirects")


async def _read_capped(provider: str, response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ProviderError(
            provider, FailureClass.UPSTREAM_INVALID, f"{provider} image exceeds {max_bytes} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ProviderError(
                provider, FailureClass.UPSTREAM_INVALID, f"{provider} image exceeds {max_bytes} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def require_image(provider: str, data: bytes, *, what: str = "image") -> bytes:
    """Bytes that are really a PNG, JPEG or WebP (by magic bytes, never by label), else UPSTREAM_INVALID."""
    if sniff_format(data) is None:
        raise ProviderError(
            provider, FailureClass.UPSTREAM_INVALID, f"{provider} returned a {what} that is not an image"
        )
    return data


def base64_image(provider: str, text: str, *, seed: int | None = None, what: str = "image") -> ProviderImage:
    """A provider's base64 image kept as text (decoded later only if the gateway must transcode).

    Checked here without a full decode: ASCII, a length that is a multiple of 4, and a first
    block that strictly decodes to PNG/JPEG/WebP magic bytes; else UPSTREAM_INVALID."""
    bad = ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} {what} is not base64 image data")
    if not text.isascii() or len(text) % 4 or len(text) < 16:
        raise bad
    try:
        head = binascii.a2b_base64(text[:16], strict_mode=True)
    except binascii.Error:
        raise bad from None
    require_image(provider, head, what=what)
    return ProviderImage(b64=text, seed=seed)


def remaining_or_deadline(provider: str, deadline: float) -> float:
    """Seconds left before `deadline` (monotonic); DEADLINE failure when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise ProviderError(provider, FailureClass.DEADLINE, f"{provider}: request deadline passed")
    return left


def _timeout(seconds: float | None) -> httpx.Timeout | httpx._client.UseClientDefault:
    if seconds is None:
        return httpx.USE_CLIENT_DEFAULT
    return httpx.Timeout(seconds, connect=min(seconds, CONNECT_TIMEOUT))


def _bounded(seconds: float) -> float:
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


async def _resolves_to_private(host: str) -> bool:
    """An allow-listed name may still point at loopback or a metadata address (DNS rebinding, a
    hostile wildcard record): refuse those for remote providers. A name that does not resolve here
    passes, since the connection itself then fails. (The check narrows, not closes, the window:
    httpx resolves again when it connects.)"""
    if _private_ip(host) or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(host, None), timeout=2.0)
    except (OSError, TimeoutError):
        return False
    return any(_private_ip(str(info[4][0]).split("%", 1)[0]) for info in infos)


def _private_ip(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global
