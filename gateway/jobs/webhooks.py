"""Webhooks: one signed POST when a job ends (Standard Webhooks), retried with backoff.

    webhook-id         msg_<job id>: the same on every retry (receivers deduplicate on it)
    webhook-timestamp  unix seconds of this attempt
    webhook-signature  v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>"> keyed with the
                       operator's secret (`whsec_<base64>`, from the env var webhooks.secret_env)

The URL is checked when the job is submitted (400 `param: webhook_url`): https, no credentials, a
public host that does not resolve to a private address (the SSRF rules of image URLs; loopback and
http only to a loopback receiver with `webhooks.allow_loopback`, for tests). Each delivery resolves the name once and
connects to that public address (no second lookup to rebind). Redirects are not followed; a non-2xx or
no answer is retried up to `webhooks.max_attempts` times, waiting backoff_seconds * 2^n (capped);
every attempt goes into the job's delivery log.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
import time
from collections.abc import Awaitable, Callable
from typing import Literal
from urllib.parse import urlsplit

import httpx
import msgspec

from gateway.config.jobs import WebhooksConfig
from gateway.errors import InvalidRequest, ProviderError
from gateway.jobs.model import JobView, WebhookAttempt
from gateway.metrics import WEBHOOK_DELIVERIES
from gateway.upstream.downloads import Resolver, pin, resolves_to_private, system_resolve

MAX_URL_LENGTH = 2048
_PREFIX = "whsec_"


def secret_key(config: WebhooksConfig) -> bytes | None:
    """The signing key from the environment (`whsec_` + base64), or None when unset or malformed."""
    value = os.environ.get(config.secret_env, "")
    if not value:
        return None
    try:
        encoded = value.removeprefix(_PREFIX)
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True) or None
    except (binascii.Error, ValueError):
        return None


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


async def check_url(url: str, config: WebhooksConfig) -> None:
    """Refuse a webhook_url that is not a public https URL (400 naming `webhook_url`)."""
    reason = _static_reason(url, config.allow_loopback)
    if reason is None and not _loopback_allowed(url, config):
        host = urlsplit(url).hostname or ""
        if await resolves_to_private(host):
            reason = f"host {host!r} is or resolves to a private address"
    if reason is not None:
        raise InvalidRequest(f"webhook_url refused: {reason}", param="webhook_url")
    if secret_key(config) is None:
        raise InvalidRequest(
            f"webhooks are not configured here (no signing secret in {config.secret_env})",
            param="webhook_url",
        )


def _loopback_allowed(url: str, config: WebhooksConfig) -> bool:
    """`webhooks.allow_loopback` (tests, local development): a receiver on this machine only —
    127.0.0.0/8, ::1 or localhost; every other private address stays refused."""
    if not config.allow_loopback:
        return False
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _static_reason(url: str, allow_loopback: bool) -> str | None:
    if len(url) > MAX_URL_LENGTH or any(ord(c) <= 32 or ord(c) == 127 for c in url):
        return "not a valid URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "not a valid URL"
    if parts.scheme != "https" and not (parts.scheme == "http" and allow_loopback):
        return "only https URLs are accepted"
    if not parts.hostname:
        return "no host"
    if parts.username or parts.password:
        return "credentials in URL"
    if parts.scheme == "http" and not _loopback_allowed(url, WebhooksConfig(allow_loopback=True)):
        return "only https URLs are accepted (http only to a loopback receiver)"
    return None


Record = Callable[[WebhookAttempt], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


async def deliver(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    *,
    msg_id: str,
    key: bytes,
    config: WebhooksConfig,
    record: Record,
    sleep: Sleep = asyncio.sleep,
    resolve: Resolver = system_resolve,
) -> bool:
    """POST `body` until a 2xx or `max_attempts`; each attempt recorded; True when delivered."""
    for attempt in range(1, config.max_attempts + 1):
        status, error = await _attempt(client, url, body, msg_id, key, config, resolve)
        delivered = status is not None and 200 <= status < 300
        outcome: Literal["delivered", "failed"] = "delivered" if delivered else "failed"
        await record(
            WebhookAttempt(attempt=attempt, at=int(time.time()), outcome=outcome, status=status, error=error)
        )
        WEBHOOK_DELIVERIES.labels(
            outcome if delivered else "retried" if attempt < config.max_attempts else "failed"
        ).inc()
        if delivered:
            return True
        if attempt < config.max_attempts:
            await sleep(min(config.backoff_seconds * 2 ** (attempt - 1), config.backoff_max_seconds))
    return False


async def _attempt(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    msg_id: str,
    key: bytes,
    config: WebhooksConfig,
    resolve: Resolver,
) -> tuple[int | None, str | None]:
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, msg_id, timestamp, body),
    }
    target: str | httpx.URL = url
    extensions: dict[str, object] = {}
    try:
        async with asyncio.timeout(config.timeout_seconds):
            if not _loopback_allowed(url, config):  # resolved per attempt, connected to that address
                target, host, extensions = await pin(url, resolve)
                headers |= host
            response = await client.post(
                target, content=body, headers=headers, extensions=extensions, follow_redirects=False
            )
    except ProviderError as exc:
        return None, exc.message
    except (httpx.HTTPError, TimeoutError, OSError) as exc:
        return None, f"no answer ({type(exc).__name__})"
    return response.status_code, None if response.is_success else f"HTTP {response.status_code}"


def payload(job: JobView) -> bytes:
    """The webhook body: the job object, its images without their bytes (the receiver fetches the
    job at `links.self` for them; no storage is configured to link them by URL)."""
    document = msgspec.json.decode(msgspec.json.encode(job))
    result = document.get("result")
    if isinstance(result, dict):
        for image in result.get("images") or []:
            if isinstance(image, dict):
                image.pop("data_url", None)
    return msgspec.json.encode(document)
