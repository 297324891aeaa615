"""The client side of async jobs (docs/jobs.md): submit with `Prefer: respond-async`, follow the
job's events (reconnecting with Last-Event-ID when the connection drops), read its state.

Used by `imagegate generate --async` and `imagegate job ID`. Every request is signed afresh (a
single-use SIWX nonce is consumed by each), with the same signer: only that account sees the job.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TextIO

import httpx
import msgspec

from adapters.sse import SSEDecoder
from gateway.auth.envelope import HEADER_NAME
from gateway.client import GatewayCallError, Signer, fetch_issued_nonce, sign_header
from gateway.client_stream import ProgressBar

GENERATE_PATH = "/api/v1/image/generate"
JOBS_PATH = "/api/v1/jobs"
RECONNECTS = 5


def _signed(url: str, signer: Signer, nonce: str | None = None) -> dict[str, str]:
    return {HEADER_NAME: sign_header(url, signer, nonce=nonce)}


def _fail(response: httpx.Response) -> GatewayCallError:
    try:
        error = msgspec.json.decode(response.read()).get("error", {})
    except (msgspec.DecodeError, AttributeError):
        error = {}
    return GatewayCallError(response.status_code, str(error.get("code", "")), str(error.get("message", "")))


def submit_job(
    base_url: str,
    body: dict[str, object],
    signer: Signer,
    *,
    client: httpx.Client,
    issued_nonce: bool = False,
) -> dict[str, Any]:
    """POST with `Prefer: respond-async`; the 202 body (`id`, `status`, `links`)."""
    url = base_url.rstrip("/") + GENERATE_PATH
    nonce = fetch_issued_nonce(base_url, client) if issued_nonce else None
    headers = {**_signed(url, signer, nonce), "Prefer": "respond-async"}
    response = client.post(url, json=body, headers=headers)
    if response.status_code != 202:
        raise _fail(response)
    accepted: dict[str, Any] = response.json()
    return accepted


def get_job(base_url: str, job_id: str, signer: Signer, *, client: httpx.Client) -> dict[str, Any]:
    url = f"{base_url.rstrip('/')}{JOBS_PATH}/{job_id}"
    response = client.get(url, headers=_signed(url, signer))
    if response.status_code != 200:
        raise _fail(response)
    job: dict[str, Any] = response.json()
    return job


def cancel_job(base_url: str, job_id: str, signer: Signer, *, client: httpx.Client) -> dict[str, Any]:
    url = f"{base_url.rstrip('/')}{JOBS_PATH}/{job_id}"
    response = client.delete(url, headers=_signed(url, signer))
    if response.status_code != 200:
        raise _fail(response)
    job: dict[str, Any] = response.json()
    return job


def follow_events(
    base_url: str,
    job_id: str,
    signer: Signer,
    *,
    client: httpx.Client,
    n: int = 1,
    progress: TextIO | None = None,
    echo: TextIO | None = None,
) -> tuple[str, dict[str, Any]]:
    """Follow the job's events to its end: ("completed", response) or ("error", error body).
    A dropped connection is resumed from the last event seen (Last-Event-ID), a few times.
    `echo`: one line per event (`<id> <event>`), for `imagegate job ID --events`."""
    url = f"{base_url.rstrip('/')}{JOBS_PATH}/{job_id}/events"
    bar = ProgressBar(n, progress) if progress is not None else None
    last = ""
    try:
        for _ in range(RECONNECTS + 1):
            headers = _signed(url, signer) | ({"Last-Event-ID": last} if last else {})
            try:
                with client.stream("GET", url, headers=headers) as response:
                    if response.status_code != 200:
                        raise _fail(response)
                    for event_id, event, data in _events(response):
                        last = event_id or last
                        if echo is not None:
                            echo.write(f"{event_id} {event}\n")
                        if event in ("completed", "error"):
                            return event, data
                        if bar is not None:
                            bar.update(event, data)
            except httpx.TransportError:
                continue  # reconnect where we were
    finally:
        if bar is not None:
            bar.finish()
    raise GatewayCallError(0, "stream_ended", f"the events of {job_id} ended without an ending")


def _events(response: httpx.Response) -> Iterator[tuple[str, str, dict[str, Any]]]:
    decoder = SSEDecoder()
    event_id = ""
    for line in [*response.iter_lines(), ""]:
        line = line.rstrip("\r\n")
        if line.startswith("id:"):
            event_id = line[3:].strip()
            continue
        message = decoder.feed(line)
        if message is not None:
            yield event_id, message.event, msgspec.json.decode(message.data)
