"""Steps 4-8 with generated vectors (test-only keys): domain, URI, version, chain, address, time, nonce.

Every rejected message here carries a *valid* signature, so each case isolates the one rule it names.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.auth import AuthCode
from gateway.auth.chains import normalise_chain
from gateway.auth.policy import AuthPolicy
from gateway.auth.signatures import checksum_address
from gateway.client import EvmSigner, SolanaSigner
from tests.auth.support import EVM, EVM_KEY, NOW, SOLANA, SOLANA_SEED, code_of, policy, signed, stamp, verify

# --- domain (step 4) -----------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["gateway.example", "GATEWAY.Example"])
def test_domain_matches_case_insensitively(domain: str) -> None:
    assert code_of(signed(domain=domain)) is None


@pytest.mark.parametrize(
    "domain",
    ["evil.example", "gateway.example.evil.example", "gateway.example:8443", "user@gateway.example",
     "xn--gateway-9za.example", "gateway.exampl", "localhost:8000"],
)
def test_other_domains_are_refused(domain: str) -> None:
    assert code_of(signed(domain=domain)) is AuthCode.DOMAIN_MISMATCH


def test_http_scheme_prefix_needs_an_http_origin() -> None:
    assert code_of(signed(scheme="http")) is AuthCode.DOMAIN_MISMATCH
    local = policy(domains=["localhost:8000"], origins=["http://localhost:8000"])
    tok = signed(scheme="http", domain="localhost:8000", uri="http://localhost:8000/x")
    assert code_of(tok, local) is None


def test_homoglyph_domain_never_reaches_the_domain_check() -> None:
    assert code_of(signed(domain="gаteway.example")) is AuthCode.INVALID_MESSAGE  # Cyrillic а


def test_empty_domains_and_origins_derive_from_the_serve_address() -> None:
    derived = AuthPolicy.build(policy().config.__class__(), host="127.0.0.1", port=8000)
    assert derived.domains == {"localhost:8000", "127.0.0.1:8000"}
    assert derived.origins == {("http", "localhost", 8000), ("http", "127.0.0.1", 8000)}
    assert derived.challenge.startswith('SIWX realm="imagegate", domain="localhost:8000", uri="http://localhost:8000"')


# --- URI and version (step 5) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri", ["https://gateway.example", "https://gateway.example/", "https://GATEWAY.example:443/any/path?q=1"]
)
def test_uri_path_is_free_but_origin_must_match(uri: str) -> None:
    assert code_of(signed(uri=uri)) is None


@pytest.mark.parametrize(
    "uri",
    ["http://gateway.example/api", "https://gateway.example:8443/api", "https://evil.example/api",
     "/api/v1/image/generate", "gateway.example/api", "https://user@gateway.example/api",
     "https://gateway.example:99999/", "urn:gateway.example"],
)
def test_uri_mismatch(uri: str) -> None:
    assert code_of(signed(uri=uri)) is AuthCode.URI_MISMATCH


@pytest.mark.parametrize("version", ["2", "1.0", "01", ""])
def test_version_must_be_1(version: str) -> None:
    assert code_of(signed(version=version)) is AuthCode.INVALID_MESSAGE


# --- chains (step 6) ------------------------------------------------------------------------------

MAINNET = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"
GENESIS = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"


@pytest.mark.parametrize(
    ("written", "namespace", "caip2"),
    [
        ("1", "eip155", "eip155:1"),
        ("eip155:1", "eip155", "eip155:1"),
        ("8453", "eip155", "eip155:8453"),
        ("eip155:8453", "eip155", "eip155:8453"),
        ("5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", "solana", MAINNET),
        (MAINNET, "solana", MAINNET),
        (GENESIS, "solana", MAINNET),
        ("mainnet", "solana", MAINNET),
        ("solana:mainnet", "solana", MAINNET),
        ("devnet", "solana", "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"),
        ("solana:testnet", "solana", "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z"),
    ],
)
def test_chain_id_forms_normalise_to_caip2(written: str, namespace: str, caip2: str) -> None:
    assert normalise_chain(written, namespace) == caip2  # type: ignore[arg-type]


@pytest.mark.parametrize("written", ["1", "8453", "eip155:1", "eip155:8453"])
def test_each_evm_chain_form_verifies(written: str) -> None:
    verified = verify(signed(chain_id=written))
    assert verified.principal.chain == normalise_chain(written, "eip155")
    assert verified.principal.account == f"{verified.principal.chain}:{EVM.address}"


@pytest.mark.parametrize("written", ["5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", MAINNET, GENESIS, "mainnet", "solana:mainnet"])
def test_each_solana_chain_form_verifies(written: str) -> None:
    verified = verify(signed(SOLANA, chain_id=written))
    assert verified.principal.account == f"{MAINNET}:{SOLANA.address}"


@pytest.mark.parametrize(
    ("signer", "written"),
    [
        (EVM, "01"), (EVM, "eip155:01"), (EVM, "0"), (EVM, "eip155:"), (EVM, "0x1"), (EVM, "5"),
        (EVM, MAINNET), (EVM, "mainnet"), (SOLANA, "1"), (SOLANA, "eip155:1"), (SOLANA, "localnet"),
        (SOLANA, "devnet"), (SOLANA, "solana:abc"),
    ],
)
def test_unsupported_chains(signer: EvmSigner | SolanaSigner, written: str) -> None:
    assert code_of(signed(signer, chain_id=written)) is AuthCode.UNSUPPORTED_CHAIN


def test_devnet_verifies_once_allowed() -> None:
    allowed = policy(chains=["solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"])
    assert code_of(signed(SOLANA, chain_id="devnet"), allowed) is None


# --- address (step 7) -----------------------------------------------------------------------------


def test_lower_and_upper_case_evm_addresses_are_accepted_with_a_checksummed_principal() -> None:
    lower = EVM.address.lower()
    upper = "0x" + EVM.address[2:].upper()
    for address in (lower, upper):
        assert verify(signed(address=address)).principal.account == f"eip155:1:{EVM.address}"
    assert checksum_address(lower) == EVM.address


@pytest.mark.parametrize(
    "address",
    [
        EVM.address[:-1] + ("a" if EVM.address[-1] != "a" else "b"),  # wrong mixed-case checksum... or digit change
        EVM.address.swapcase().replace("0X", "0x"),
        EVM.address[:-2],
        EVM.address[2:],
        EVM.address + "00",
    ],
)
def test_invalid_evm_addresses(address: str) -> None:
    assert code_of(signed(address=address)) in (AuthCode.INVALID_MESSAGE, AuthCode.INVALID_SIGNATURE)


def test_a_wrong_eip55_checksum_is_an_invalid_message() -> None:
    body = EVM.address[2:]
    index = next(i for i, c in enumerate(body) if c.isalpha())
    wrong = "0x" + body[:index] + body[index].swapcase() + body[index + 1 :]
    assert code_of(signed(address=wrong)) is AuthCode.INVALID_MESSAGE


@pytest.mark.parametrize("address", ["short", SOLANA.address + "1", "0" + SOLANA.address[1:], EVM.address])
def test_invalid_solana_addresses(address: str) -> None:
    assert code_of(signed(SOLANA, address=address)) is AuthCode.INVALID_MESSAGE


# --- time (step 8) --------------------------------------------------------------------------------

LEEWAY = timedelta(seconds=60)
S = timedelta(seconds=1)


def at(delta: timedelta) -> str:
    return stamp(NOW + delta)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"issued_at": at(LEEWAY)}, None),
        ({"issued_at": at(LEEWAY + S)}, AuthCode.ISSUED_IN_FUTURE),
        ({"expiration_time": at(-LEEWAY + S)}, None),
        ({"expiration_time": at(-LEEWAY)}, AuthCode.EXPIRED),
        ({"issued_at": at(-S), "expiration_time": at(timedelta(hours=1) - S)}, None),
        ({"issued_at": at(-S), "expiration_time": at(timedelta(hours=1))}, AuthCode.LIFETIME_TOO_LONG),
        ({"not_before": at(LEEWAY)}, None),
        ({"not_before": at(LEEWAY + S)}, AuthCode.NOT_YET_VALID),
        ({"not_before": at(-timedelta(minutes=5))}, None),
    ],
    ids=[
        "iat at +leeway", "iat beyond leeway",
        "exp within leeway", "exp past leeway", "lifetime at max", "lifetime over max", "nbf at +leeway",
        "nbf beyond leeway", "nbf passed",
    ],
)
def test_time_bounds(fields: dict[str, str], expected: AuthCode | None) -> None:
    assert code_of(signed(**fields)) is expected


def test_issued_at_max_age_with_leeway() -> None:
    long_lived = policy(max_lifetime_seconds=7200)  # isolate max_age from max_lifetime
    oldest = -timedelta(hours=1) - LEEWAY
    assert code_of(signed(issued_at=at(oldest), expiration_time=at(S)), long_lived) is None
    assert code_of(signed(issued_at=at(oldest - S), expiration_time=at(S)), long_lived) is AuthCode.EXPIRED


def test_leeway_and_limits_are_configurable() -> None:
    strict = policy(leeway_seconds=0, max_lifetime_seconds=60, max_age_seconds=30)
    assert code_of(signed(issued_at=at(S)), strict) is AuthCode.ISSUED_IN_FUTURE
    assert code_of(signed(issued_at=at(-S), expiration_time=at(30 * S)), strict) is None
    assert code_of(signed(issued_at=at(-31 * S), expiration_time=at(S)), strict) is AuthCode.EXPIRED
    assert code_of(signed(expiration_time=at(2 * 60 * S)), strict) is AuthCode.LIFETIME_TOO_LONG


@pytest.mark.parametrize(
    "value",
    ["2030-01-01T12:00:00", "2030-01-01", "2030-02-31T00:00:00Z", "2030-01-01 12:00:00Z", "tomorrow",
     "2030-01-01T25:00:00Z", "2030-01-01T12:00:00+0100", ""],
)
@pytest.mark.parametrize("field", ["issued_at", "expiration_time", "not_before"])
def test_unparseable_times_fail_closed(field: str, value: str) -> None:
    assert code_of(signed(**{field: value})) is AuthCode.INVALID_MESSAGE


def test_offsets_and_fractions_are_understood() -> None:
    assert code_of(signed(issued_at="2030-01-01T13:59:30+02:00", expiration_time="2030-01-01T07:05:00.123456789-05:00")) is None


# --- nonce and required fields (step 8, policy) -----------------------------------------------------


@pytest.mark.parametrize("nonce", ["1234567", "abc-defgh", "abcdefgh ", "a" * 129, ""])
def test_nonce_must_be_8_to_128_alphanumerics(nonce: str) -> None:
    assert code_of(signed(nonce=nonce)) is AuthCode.INVALID_MESSAGE


@pytest.mark.parametrize("nonce", ["12345678", "a" * 128])
def test_nonce_bounds_accepted(nonce: str) -> None:
    assert code_of(signed(nonce=nonce)) is None


@pytest.mark.parametrize("missing", ["nonce", "issued_at", "expiration_time"])
def test_single_use_requires_nonce_issued_at_and_expiration(missing: str) -> None:
    assert code_of(signed(**{missing: None})) is AuthCode.INVALID_MESSAGE


def test_session_mode_requires_a_nonce_unless_configured_otherwise() -> None:
    session = policy(replay="session")
    assert code_of(signed(nonce=None), session) is AuthCode.INVALID_MESSAGE
    relaxed = policy(replay="session", nonce_required=False)
    aimo_style = signed(nonce=None, issued_at=None, statement=None, expiration_time=at(timedelta(minutes=59)))
    assert code_of(aimo_style, relaxed) is None
    assert code_of(signed(expiration_time=None), relaxed) is AuthCode.INVALID_MESSAGE
    assert code_of(signed(nonce=None, issued_at=None, expiration_time=at(timedelta(hours=2))), relaxed) is (
        AuthCode.LIFETIME_TOO_LONG
    )


def test_keys_are_test_only_fixtures() -> None:  # documents where the keys come from
    assert EvmSigner.from_hex(EVM_KEY).address == EVM.address
    assert SolanaSigner.from_secret(SOLANA_SEED).address == SOLANA.address
