"""Client-supplied times at the edges of the calendar, through a real HTTP server (issue 13 item 3),
and the AiMo SDK's missing Issued At under clock skew (item 12).

Year 1 and year 9999 in every time field, at the widest offsets, with a valid or a garbage signature:
always the contract's 401 code (or 200 where the time is legitimately fine), never a 500. Before the
fix `Expiration Time: 9999-12-31T23:59:59Z` overflowed `expires + leeway` before the signature check.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gateway.app import create_app
from gateway.auth import AuthCode
from gateway.client import EvmSigner
from gateway.config import parse_config
from gateway.settings import Settings
from tests.auth.support import message, stamp, token
from tests.support.app import MOCK_ROUTING
from tests.support.live_server import live_server
from tests.support.redis_server import free_port

URL = "/api/v1/image/generate"
BODY = {"model": "mock", "prompt": "a lighthouse", "width": 64, "height": 64}
AUTH = """auth:
  domains: [gateway.example]
  origins: ["https://gateway.example"]
  replay: {replay}
  nonce_required: {nonce_required}
"""
OFFSETS = ["Z", "+14:00", "-12:00", "+23:59", "-23:59"]
YEAR_1, YEAR_9999 = "0001-01-01T00:00:00", "9999-12-31T23:59:59.999999999"
# What the contract answers for each (field, extreme) with an otherwise valid message; None: accepted.
EXPECTED: dict[tuple[str, str], AuthCode | None] = {
    ("issued_at", YEAR_1): AuthCode.EXPIRED,  # older than max_age
    ("issued_at", YEAR_9999): AuthCode.ISSUED_IN_FUTURE,
    ("expiration_time", YEAR_1): AuthCode.EXPIRED,
    ("expiration_time", YEAR_9999): AuthCode.LIFETIME_TOO_LONG,
    ("not_before", YEAR_1): None,  # long reached: fine
    ("not_before", YEAR_9999): AuthCode.NOT_YET_VALID,
}


def _routing(replay: str, nonce_required: bool) -> str:
    section = AUTH.format(replay=replay, nonce_required=str(nonce_required).lower())
    return MOCK_ROUTING.replace("auth:\n  enabled: false\n", section)


@pytest.fixture(scope="module")
def gateway() -> Iterator[httpx.Client]:
    app = create_app(Settings(), config=parse_config(_routing("single_use", True)))
    with live_server(app, free_port()) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def aimo_gateway() -> Iterator[httpx.Client]:
    """The AiMo SDK compatibility mode: session replay, no nonce, no Issued At."""
    app = create_app(Settings(), config=parse_config(_routing("session", False)))
    with live_server(app, free_port()) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield client


def _post(client: httpx.Client, tok: str) -> tuple[int, str | None]:
    response = client.post(URL, json=BODY, headers={"Sign-In-With-X": tok})
    assert response.status_code in (200, 401), response.text  # never 500
    code = None if response.status_code == 200 else response.json()["error"]["code"]
    return response.status_code, code


@pytest.mark.parametrize("garbage_signature", [False, True], ids=["signed", "garbage-sig"])
@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("extreme", [YEAR_1, YEAR_9999], ids=["year1", "year9999"])
@pytest.mark.parametrize("field", ["issued_at", "expiration_time", "not_before"])
def test_extreme_times_in_every_field_are_401_never_500(
    gateway: httpx.Client, field: str, extreme: str, offset: str, garbage_signature: bool
) -> None:
    signer = EvmSigner.throwaway()
    now = datetime.now(UTC)
    fields = {
        "address": signer.address,
        "issued_at": stamp(now - timedelta(seconds=5)),
        "expiration_time": stamp(now + timedelta(minutes=5)),
        field: extreme + offset,
    }
    msg = dataclasses.replace(message(), **fields)
    tok = token(msg, signer, signature="0x" + "ab" * 65 if garbage_signature else None)
    status, code = _post(gateway, tok)
    expected = EXPECTED[(field, extreme)]
    if expected is None:  # the time rules pass: the signature decides
        expected = AuthCode.INVALID_SIGNATURE if garbage_signature else None
    assert code == (expected.value if expected is not None else None), (status, code)


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("extreme", [YEAR_1, YEAR_9999], ids=["year1", "year9999"])
def test_extreme_expiration_without_issued_at_in_aimo_mode(
    aimo_gateway: httpx.Client, extreme: str, offset: str
) -> None:
    signer = EvmSigner.throwaway()
    msg = dataclasses.replace(
        message(), address=signer.address, nonce=None, issued_at=None, expiration_time=extreme + offset
    )
    expected = AuthCode.EXPIRED if extreme == YEAR_1 else AuthCode.LIFETIME_TOO_LONG
    assert _post(aimo_gateway, token(msg, signer)) == (401, expected.value)


# --- item 12: the AiMo SDK sends no Issued At; the lifetime is counted from our clock ---------------


def _aimo_header(signer: EvmSigner, expires_in: timedelta) -> str:
    expiration = datetime.now(UTC) + expires_in
    msg = dataclasses.replace(
        message(), address=signer.address, nonce=None, issued_at=None, statement=None,
        expiration_time=stamp(expiration),
    )
    return token(msg, signer)


def test_aimo_client_slightly_ahead_is_accepted(aimo_gateway: httpx.Client) -> None:
    """A client whose clock runs ahead (here 0.5 s) asks for exactly max_lifetime (1 h): within the
    60 s skew leeway, so accepted (it was 401 auth_lifetime_too_long with a 20 ms skew)."""
    tok = _aimo_header(EvmSigner.throwaway(), timedelta(hours=1, milliseconds=500))
    assert _post(aimo_gateway, tok) == (200, None)
    assert _post(aimo_gateway, tok) == (200, None)  # session mode: the same header again


def test_aimo_lifetime_beyond_the_leeway_is_refused(aimo_gateway: httpx.Client) -> None:
    tok = _aimo_header(EvmSigner.throwaway(), timedelta(hours=1, seconds=61))
    assert _post(aimo_gateway, tok) == (401, AuthCode.LIFETIME_TOO_LONG.value)
