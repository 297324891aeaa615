"""POST /v1/images/edits in process: the multipart reader's bounds and refusals, field decoding, and
OpenAI's error shape naming the part (`image[1]`, `mask`, a field)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from gateway.api.multipart import MAX_PARTS, boundary_of, parse_form
from gateway.app import create_app
from gateway.config import parse_config
from gateway.errors import InvalidRequest, UnsupportedMediaType
from gateway.settings import Settings
from tests.support.app import MOCK_ROUTING
from tests.support.edit import mask_png, picture

URL = "/v1/images/edits"
BASE = picture((96, 64))
SMALL_BODY_CAP = 200_000


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    routing = MOCK_ROUTING.replace("retry:", f"server: {{edit: {{max_body_bytes: {SMALL_BODY_CAP}}}}}\nretry:")
    async with AsyncTestClient(app=create_app(Settings(), config=parse_config(routing))) as test_client:
        yield test_client


def form(body: bytes, boundary: str = "b0undary") -> dict[str, Any]:
    return {"content": body, "headers": {"Content-Type": f"multipart/form-data; boundary={boundary}"}}


def multipart(*parts: tuple[str, str | None, bytes], boundary: str = "b0undary") -> bytes:
    out = b""
    for name, filename, data in parts:
        file = f'; filename="{filename}"' if filename is not None else ""
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{file}\r\n\r\n'.encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def fields(**values: str) -> list[tuple[str, str | None, bytes]]:
    return [(name, None, value.encode()) for name, value in values.items()]


async def test_an_edit_maps_fields_and_reports_dropped_ones(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    body = multipart(
        ("image", "base.png", BASE),
        ("mask", "mask.png", mask_png((96, 64), (0, 0, 32, 24))),
        *fields(model="mock", prompt="a moon", n="2", size="96x64", quality="hd", input_fidelity="high"),
    )
    response = await client.post(URL, **form(body))
    assert response.status_code == 200, response.text
    result = response.json()
    assert len(result["data"]) == 2 and result["size"] == "96x64" and result["quality"] == "hd"
    assert "input_fidelity" in response.headers["x-imagegate-warnings"]


@pytest.mark.parametrize(
    ("parts", "param", "words"),
    [
        ([("image", "a.png", BASE), ("image", "b.txt", b"hello")], "image[1]", "not a PNG, JPEG or WebP"),
        ([("image", "a.txt", b"hello")], "image", "not a PNG"),
        ([("image", None, BASE)], "image", "file part"),
        ([("image", "a.png", BASE), ("mask", "m.png", mask_png((32, 32), (0, 0, 8, 8)))], "mask", "must be the size"),
        ([("image", "a.png", BASE), ("mask", "m.png", picture((96, 64)))], "mask", "no alpha channel"),
        ([("mask", "m.png", BASE)], "image", "image is required"),
        ([("image", "a.png", BASE), ("style", None, b"vivid")], "style", "unknown field"),
        ([("image", "a.png", BASE), ("n", None, b"7")], "n", "between 1 and 6"),
        ([("image", "a.png", BASE), ("n", None, b"two")], "n", "Expected `int | null`"),
        ([("image", "a.png", BASE), ("stream", None, b"maybe")], "stream", "Expected `bool | null`"),
        ([("image", "a.png", BASE), ("size", None, b"huge")], "size", "WIDTHxHEIGHT"),
        ([("image", "a.png", BASE), ("response_format", None, b"url")], "response_format", "storage"),
        ([("image", "a.png", BASE), ("model", None, b"other")], "model", "given more than once"),
        ([("image", "a.png", BASE), ("user", None, b"\xff\xfe")], "user", "UTF-8"),
    ],
)
async def test_refusals_name_the_part(
    client: AsyncTestClient, parts: list[tuple[str, str | None, bytes]], param: str, words: str  # type: ignore[type-arg]
) -> None:
    body = multipart(*fields(model="mock", prompt="x"), *parts)
    response = await client.post(URL, **form(body))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and words in error["message"]


async def test_body_cap_and_media_type(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    huge = multipart(("image", "a.png", b"\x89PNG" + b"\0" * SMALL_BODY_CAP), *fields(model="mock", prompt="x"))
    too_big = await client.post(URL, **form(huge))
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"
    json_body = await client.post(URL, json={"model": "mock", "prompt": "x"})
    assert json_body.status_code == 415 and json_body.json()["error"]["type"] == "invalid_request_error"


def test_the_reader_refuses_malformed_bodies() -> None:
    good = multipart(("a", None, b"1"), ("b", "f.png", b"\r\n--not-the-boundary\r\n"))
    assert [(p.name, p.filename, p.data) for p in parse_form(good, "b0undary")] == [
        ("a", None, b"1"), ("b", "f.png", b"\r\n--not-the-boundary\r\n")
    ]
    assert boundary_of('multipart/form-data; boundary="quoted b"') == "quoted b"
    for bad in (
        b"no boundary at all",
        good.removesuffix(b"--b0undary--\r\n"),  # not terminated
        b"--b0undary--\r\n",  # no parts
        b'--b0undary\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b0undary--',  # no name
        b"--b0undary\r\nContent-Type: text/plain\r\n\r\nx\r\n--b0undary--",  # not form-data
        b"--b0undary\r\nno colon here\r\n\r\nx\r\n--b0undary--",
        multipart(*[("f", None, b"")] * (MAX_PARTS + 1)),
    ):
        with pytest.raises(InvalidRequest):
            parse_form(bad, "b0undary")
    with pytest.raises(UnsupportedMediaType):
        boundary_of("application/json")
    with pytest.raises(InvalidRequest):
        boundary_of("multipart/form-data")


def test_the_reader_skips_preamble_and_epilogue_and_takes_exactly_max_parts() -> None:
    body = b"preamble\r\n" + multipart(("a", None, b"1")) + b"epilogue"
    assert [p.data for p in parse_form(body, "b0undary")] == [b"1"]
    assert len(parse_form(multipart(*[("f", None, b"")] * MAX_PARTS), "b0undary")) == MAX_PARTS


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(
        st.tuples(st.from_regex(r"[a-z_\[\]]{1,12}", fullmatch=True), st.booleans(), st.binary(max_size=300)),
        min_size=1,
        max_size=8,
    )
)
def test_what_httpx_encodes_the_reader_reads_back(parts: list[tuple[str, bool, bytes]]) -> None:
    """httpx's multipart encoder (a real client's bytes, its own random boundary) round-trips."""
    data = {f"t{i}_{name}": value.hex() for i, (name, is_file, value) in enumerate(parts) if not is_file}
    files = [(f"f{i}_{name}", (f"{i}.bin", value, "application/octet-stream")) for i, (name, is_file, value) in enumerate(parts) if is_file]
    files.append(("last", ("last.bin", b"\r\n--\r\n", "application/octet-stream")))  # one file at least: multipart
    request = httpx.Request("POST", "http://x/", data=data, files=files)
    request.read()
    read = parse_form(request.content, boundary_of(request.headers["content-type"]))
    assert {p.name: p.data.decode() for p in read if p.filename is None} == data
    assert [(p.name, p.data) for p in read if p.filename is not None] == [(name, f[1]) for name, f in files]
