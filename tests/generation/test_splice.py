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
