"""Base64 blobs are cut out of a provider body before the JSON decode, and come back unchanged."""

from __future__ import annotations

import base64
import os

import httpx
import msgspec
import pytest

from gateway import upstream
from gateway.errors import ProviderError
from gateway.upstream.spans import MIN_CUT, ascii_of, cut_strings

BLOB = base64.b64encode(os.urandom(3 * MIN_CUT)).decode("ascii")


def body(*items: dict[str, object], extra: bytes = b"") -> bytes:
    return msgspec.json.encode({"created": 1, "data": list(items)})[:-1] + extra + b"}"


def test_blobs_are_cut_from_the_skeleton_and_restored_as_they_were() -> None:
    other = BLOB[::-1]
    raw = body({"b64_json": BLOB, "revised_prompt": "a cat"}, {"b64_json": other})
    cut = cut_strings(raw, "b64_json")
    assert len(cut.skeleton) < 200 and BLOB.encode() not in cut.skeleton  # the JSON decode never sees it
    restored = cut.restore(msgspec.json.decode(cut.skeleton))
    assert restored == msgspec.json.decode(raw)


def test_spacing_around_the_colon_is_json_and_is_cut() -> None:
    raw = b'{"data": [ {"b64_json" :\n "' + BLOB.encode() + b'" } ]}'
    cut = cut_strings(raw, "b64_json")
    assert len(cut.texts) == 1
    assert cut.restore(msgspec.json.decode(cut.skeleton)) == {"data": [{"b64_json": BLOB}]}


@pytest.mark.parametrize(
    "value",
    [
        BLOB[:100] + "\\/" + BLOB[100:],  # a JSON escape: left to the decoder, which unescapes it
        BLOB[:100] + "\\u00e9" + BLOB[100:],
        "short",  # not worth cutting
    ],
    ids=["escaped-slash", "unicode-escape", "short"],
)
def test_strings_that_need_the_json_decoder_are_left_in_place(value: str) -> None:
    raw = b'{"data":[{"b64_json":"' + value.encode() + b'"}]}'
    cut = cut_strings(raw, "b64_json")
    assert cut.texts == {} and cut.skeleton is raw
    assert cut.restore(msgspec.json.decode(cut.skeleton)) == msgspec.json.decode(raw)


def test_non_ascii_is_left_to_the_decoder() -> None:
    raw = ('{"data":[{"b64_json":"' + BLOB + 'é"}]}').encode()
    assert cut_strings(raw, "b64_json").texts == {}


def test_a_key_that_only_ends_like_the_blob_key_cannot_swap_the_image() -> None:
    # `"x\"b64_json": "..."` is another key: its value is cut too, but lands under that key.
    decoy = BLOB[::-1]
    raw = b'{"x\\"b64_json": "' + decoy.encode() + b'", "data": [{"b64_json": "' + BLOB.encode() + b'"}]}'
    cut = cut_strings(raw, "b64_json")
    assert cut.restore(msgspec.json.decode(cut.skeleton)) == msgspec.json.decode(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"data":[{"b64_json":"' + BLOB.encode(),  # unterminated
        b'{"data":[{"b64_json":"' + BLOB.encode() + b'"}',  # missing bracket
        b'{"data":[{"b64_json":"' + BLOB.encode() + b'" "x"}]}',
    ],
    ids=["unterminated", "unbalanced", "garbage-after"],
)
def test_a_malformed_body_is_still_upstream_invalid(raw: bytes) -> None:
    response = httpx.Response(200, content=raw)
    with pytest.raises(ProviderError, match="not valid JSON"):
        upstream.decode_json("p", response, blob_key="b64_json")


def test_decode_json_with_a_blob_key_equals_the_plain_decode() -> None:
    raw = body({"b64_json": BLOB}, {"url": "https://x/y.png"})
    response = httpx.Response(200, content=raw)
    assert upstream.decode_json("p", response, blob_key="b64_json") == upstream.decode_json("p", response)


def test_a_cut_text_comes_with_its_body_bytes_once() -> None:
    raw = body({"b64_json": BLOB})
    cut = cut_strings(raw, "b64_json")
    text = cut.restore(msgspec.json.decode(cut.skeleton))["data"][0]["b64_json"]  # type: ignore[index]
    known = ascii_of(text)
    assert known is not None and bytes(known) == text.encode("ascii")
    assert ascii_of(text) is None  # taken once: nothing held for it any more
    assert ascii_of(BLOB) is None  # equal characters, another object: not vouched for


def test_a_long_lived_task_holds_at_most_the_last_cut() -> None:
    first = cut_strings(body({"b64_json": BLOB}), "b64_json")
    cut_strings(body({"b64_json": BLOB[::-1]}), "b64_json")
    assert ascii_of(first.texts[next(iter(first.texts))]) is None
