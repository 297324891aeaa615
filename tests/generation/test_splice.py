"""The JSON response splices a provider's base64 in instead of re-encoding it, byte-identical."""

from __future__ import annotations

import base64
import os
import time

import msgspec
import pytest

from gateway import imaging, splice
from gateway.canonical import OutputFormat
from gateway.generation import FinishedImage, Result
from gateway.responders import _ENCODER, generate_response, image_object, json_response
from gateway.splice import Splicer


def result(*b64: str, raw: dict[str, object] | None = None) -> Result:
    images = [
        FinishedImage(i, b"", imaging.ImageInfo(OutputFormat.PNG, 8, 8), 7, "openai", text)
        for i, text in enumerate(b64)
    ]
    return Result(
        request_id="req_1",
        created=int(time.time()),
        images=images,
        shortfall=None,
        provider="openai",
        model="gpt-image-1",
        raw=raw or {"note": 'quotes " and \\ and ünïcode'},
        attempts=[],
        warnings=[],
    )


@pytest.mark.parametrize("count", [1, 3])
def test_the_spliced_body_is_the_plain_encoding(count: int) -> None:
    texts = [base64.b64encode(os.urandom(3000 + i)).decode() for i in range(count)]
    res = result(*texts)
    spliced = json_response(res).content
    plain = _ENCODER.encode(generate_response(res, [image_object(image) for image in res.images]))
    assert spliced == plain
    assert [image["data_url"] for image in msgspec.json.decode(spliced)["images"]] == [
        "data:image/png;base64," + text for text in texts
    ]


@pytest.mark.parametrize("text", ['AAAA"AAAA' * 1000, "AAAA\\AAA" * 1000, "é" * 5000, "QUJD"])
def test_text_that_is_not_plain_base64_is_encoded_the_ordinary_way(text: str) -> None:
    splicer = Splicer()
    assert splicer.hold("data:image/png;base64,", text) == "data:image/png;base64," + text
    assert splicer.splice(b'{"a":"b"}') == b'{"a":"b"}'


def test_a_missing_placeholder_is_an_error_not_a_wrong_body() -> None:
    splicer = Splicer()
    splicer.hold("p,", "A" * splice.MIN_SPLICE)
    with pytest.raises(LookupError):
        splicer.splice(b'{"images":[]}')


def test_a_text_with_its_body_bytes_splices_to_the_same_body() -> None:
    text = base64.b64encode(os.urandom(6000)).decode()
    known = memoryview(b'{"b64_json": "' + text.encode() + b'"}')[14:-2]
    with_bytes, plain = Splicer(), Splicer()
    assert with_bytes.hold("data:image/png;base64,", text, known) != "data:image/png;base64," + text
    plain.hold("data:image/png;base64,", text)
    encoded = b'{"url":"%s"}'
    assert with_bytes.splice(encoded % with_bytes._held[0][0][1:-1]) == plain.splice(encoded % plain._held[0][0][1:-1])


def test_body_bytes_of_another_length_are_not_trusted() -> None:
    text = 'AAAA"AAAA' * 1000  # would break out of the JSON string
    splicer = Splicer()
    assert splicer.hold("data:image/png;base64,", text, memoryview(b"A" * 10)) == "data:image/png;base64," + text
