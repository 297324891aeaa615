"""Steps 2-3: the CAIP-122 parser — accepted layouts, exact bytes, and everything it must refuse."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.auth import AuthCode, SiwxRejected
from gateway.auth.message import MAX_RESOURCES, SiwxMessage, format_message, parse_message
from tests.auth.support import EVM, SOLANA, code_of, message, signed, token


def rejected(text: str) -> AuthCode:
    with pytest.raises(SiwxRejected) as caught:
        parse_message(text)
    return caught.value.code


def test_statement_layout_keeps_exact_text() -> None:
    text = format_message(message())
    parsed = parse_message(text)
    assert parsed.text == text and parsed.statement == "Sign in to imagegate"
    assert parsed.nonce == "abcdef0123456789" and parsed.chain_id == "1"


@pytest.mark.parametrize("two_blank_lines", [True, False])
@pytest.mark.parametrize("signer", [EVM, SOLANA], ids=["evm", "solana"])
def test_no_statement_with_one_or_two_blank_lines_verifies(two_blank_lines: bool, signer: object) -> None:
    msg = message(signer, statement=None, two_blank_lines=two_blank_lines)  # type: ignore[arg-type]
    text = format_message(msg)
    assert ("\n\n\nURI: " in text) is two_blank_lines
    assert parse_message(text) == msg.__class__(**{**dataclasses.asdict(msg), "text": text})
    assert code_of(token(text, signer)) is None  # type: ignore[arg-type]


def test_optional_fields_and_resources_parse() -> None:
    msg = message(not_before="2030-01-01T11:00:00Z", request_id="req-1", resources=("https://a.example/x", "ipfs://bafy"))
    parsed = parse_message(format_message(msg))
    assert parsed.request_id == "req-1" and parsed.resources == ("https://a.example/x", "ipfs://bafy")
    assert code_of(token(msg)) is None


def test_https_scheme_prefix_on_the_domain_is_accepted() -> None:
    assert code_of(signed(scheme="https")) is None


BASE = format_message(message())


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("carriage return", BASE.replace("\n", "\r\n")),
        ("tab", BASE.replace("Version: 1", "Version:\t1")),
        ("nul", BASE + "\x00"),
        ("non-ascii statement", BASE.replace("Sign in", "Sign ín")),
        ("homoglyph domain (Cyrillic a)", BASE.replace("gateway.example", "g\u0430teway.example")),
        ("fullwidth colon", BASE.replace("URI: ", "URI\uff1a ")),
        ("oversize", BASE + "\nResources:" + "\n- https://a.example/" + "x" * 4096),
    ],
)
def test_characters_and_size(name: str, text: str) -> None:
    assert rejected(text) is AuthCode.INVALID_MESSAGE
    assert code_of(token(text)) is AuthCode.INVALID_MESSAGE


def _swap(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


GRAMMAR = {
    "unknown header word": _swap(BASE, "Ethereum account", "Bitcoin account"),
    "ftp scheme": "ftp://" + BASE,
    "lower-case literal": _swap(BASE, "URI: ", "uri: "),
    "no blank line after address": _swap(BASE, EVM.address + "\n\n", EVM.address + "\n"),
    "three blank lines": _swap(BASE, "Sign in to imagegate\n", "\n"),
    "duplicate field": _swap(BASE, "Version: 1", "Version: 1\nVersion: 1"),
    "out of order": _swap(BASE, "Version: 1\nChain ID: 1", "Chain ID: 1\nVersion: 1"),
    "unknown line": _swap(BASE, "Version: 1", "Version: 1\nColour: blue"),
    "missing URI": "\n".join(line for line in BASE.split("\n") if not line.startswith("URI: ")),
    "missing Chain ID": "\n".join(line for line in BASE.split("\n") if not line.startswith("Chain ID")),
    "trailing newline": BASE + "\n",
    "truncated": BASE.split("\n", 1)[0],
    "bad resource line": BASE + "\nResources:\n-https://a.example",
    "relative resource": BASE + "\nResources:\n- /just/a/path",
    "too many resources": BASE + "\nResources:" + "".join(f"\n- https://r{i}.example" for i in range(MAX_RESOURCES + 1)),
    "field after resources": BASE.replace("\nNonce:", "\nResources:\n- https://a.example\nNonce:"),
}


@pytest.mark.parametrize("name", sorted(GRAMMAR))
def test_grammar_violations(name: str) -> None:
    assert rejected(GRAMMAR[name]) is AuthCode.INVALID_MESSAGE


@pytest.mark.parametrize(
    "injected",
    [
        "ok\nURI: https://evil.example/",
        "ok\nNonce: attackerchosen1",
        "ok\n\nURI: https://evil.example/\nVersion: 1",
        "ok\rNonce: attackerchosen1",
    ],
)
def test_line_injection_through_the_statement(injected: str) -> None:
    text = format_message(message(statement=injected))
    assert code_of(token(text)) is AuthCode.INVALID_MESSAGE


@pytest.mark.parametrize(
    "resource", ["https://a.example\nNonce: attackerchosen1", "https://a.example\nExpiration Time: 2100-01-01T00:00:00Z"]
)
def test_line_injection_through_resources(resource: str) -> None:
    text = format_message(message(resources=(resource,)))
    assert code_of(token(text)) is AuthCode.INVALID_MESSAGE


# --- properties -------------------------------------------------------------------------------

_printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)
_token = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30)
_authority = st.text(st.sampled_from("abcxyz019.-:[]@~%!$&()*+,;="), min_size=1, max_size=30)
_alnum = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), min_size=1, max_size=40)


@st.composite
def messages(draw: st.DrawFn) -> SiwxMessage:
    optional = lambda strategy: draw(st.none() | strategy)  # noqa: E731
    statement = optional(_printable)
    return SiwxMessage(
        scheme=optional(st.sampled_from(["https", "http"])),
        domain=draw(_authority),
        address=draw(_token),
        account_word=draw(st.sampled_from(["Ethereum", "Solana"])),
        statement=statement,
        two_blank_lines=statement is None and draw(st.booleans()),
        uri=draw(_token),
        version=draw(st.sampled_from(["1", "2"])),
        chain_id=draw(_token),
        nonce=optional(_alnum),
        issued_at=optional(_printable),
        expiration_time=optional(_printable),
        not_before=optional(_printable),
        request_id=optional(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)),
        resources=optional(st.lists(_alnum.map(lambda s: f"urn:{s}"), max_size=MAX_RESOURCES).map(tuple)),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages())
def test_parse_format_round_trip(msg: SiwxMessage) -> None:
    text = format_message(msg)
    assert parse_message(text) == dataclasses.replace(msg, text=text)


_alphabet = st.sampled_from(
    ["\n", "\r", "\t", " ", ":", "-", "é", "\x00", "URI: ", "Version: 1", "Chain ID: 1", "Nonce: ",
     "Resources:", "- https://x", " wants you to sign in with your Ethereum account:", "0x", "a", "1"]
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_alphabet, max_size=60).map("".join) | st.text(max_size=300))
def test_parser_raises_only_the_auth_error(text: str) -> None:
    try:
        parse_message(text)
    except SiwxRejected as exc:
        assert exc.code is AuthCode.INVALID_MESSAGE


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_whole_verifier_raises_only_the_auth_error(value: str) -> None:
    code_of(value)  # SiwxRejected is caught inside; anything else fails the test
