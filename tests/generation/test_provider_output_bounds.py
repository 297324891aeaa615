"""Provider output the gateway must survive (issue 14, items 1-3), at the unit level: the response
byte cap of the provider client, the decode proof and pixel cap of every image, the bounds on
`provider_metadata.raw`, extra images never decoded, and the mock's safe size default."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.mock import MockAdapter
from gateway import finishing, imaging, upstream
from gateway.canonical import (
    CallContext,
    ImageRequest,
    OutputFormat,
    OutputType,
    ProviderImage,
    ProviderResult,
)
from gateway.config.providers import DEFAULT_MAX_RESPONSE_BYTES, RESPONSE_BYTES_PER_IMAGE
from gateway.errors import FailureClass, ProviderError
from gateway.generation import finish
from gateway.http_client import build_client, images_asked, response_cap
from gateway.responders import generate_response
from gateway.routing.executor import ShardOutcome
from gateway.routing.plan import Shard
from gateway.upstream import redaction
from tests.support.images import bomb_png, corrupt_idat_png, png, short_jpeg, truncated_png

CAP = 256 * 1024


def request(**overrides: Any) -> ImageRequest:
    return ImageRequest(model="m", prompt="a cat", **overrides)


def jpeg() -> bytes:
    return imaging.finish(png(size=(64, 64)), OutputFormat.JPEG)[0]


# --- the response byte cap (gateway/http_client.py) ------------------------------------------------


async def _server(head: bytes, body: bytes, *, chunked: bool = False) -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n" + head + b"\r\n")
        try:
            if chunked:
                for i in range(0, len(body), 65536):
                    piece = body[i : i + 65536]
                    writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            else:
                writer.write(body)
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/images/generations"


async def _get(head: bytes, body: bytes, *, chunked: bool = False) -> httpx.Response:
    async for url in _server(head, body, chunked=chunked):
        async with build_client(httpx.Timeout(5.0), max_response_bytes=CAP) as client:
            return await upstream.send(client, "p", "POST", url, json={})
    raise AssertionError("unreachable")


async def test_a_body_within_the_cap_is_read_and_gzip_is_inflated() -> None:
    payload = json.dumps({"data": ["x" * 100_000]}).encode()
    plain = await _get(b"content-length: %d\r\n" % len(payload), payload)
    packed = gzip.compress(payload)
    inflated = await _get(b"content-encoding: gzip\r\ncontent-length: %d\r\n" % len(packed), packed)
    assert plain.content == payload and inflated.content == payload


@pytest.mark.parametrize(
    ("head", "body", "chunked"),
    [
        (b"transfer-encoding: chunked\r\n", b"A" * (CAP * 8), True),  # no declared size: counted as read
        (b"content-length: %d\r\n" % (CAP * 8), b"A" * 10, False),  # declared over the cap: not read
        (b"content-encoding: gzip\r\ntransfer-encoding: chunked\r\n", gzip.compress(b" " * CAP * 64), True),
        (b"content-encoding: br\r\ncontent-length: 4\r\n", b"abcd", False),  # not asked for
    ],
    ids=["chunked", "declared", "gzip-bomb", "brotli"],
)
async def test_a_body_over_the_cap_is_upstream_invalid(head: bytes, body: bytes, chunked: bool) -> None:
    with pytest.raises(ProviderError) as caught:
        await _get(head, body, chunked=chunked)
    assert caught.value.failure is FailureClass.UPSTREAM_INVALID


def test_without_an_operator_cap_the_cap_follows_the_images_asked() -> None:
    """A legitimate gpt-image answer for n: 10 at 1536x1024 PNG is ~45 MB of base64: over a flat
    32 MiB default, refused after the provider billed it. The default grows 16 MiB per image asked."""
    assert response_cap(None) == DEFAULT_MAX_RESPONSE_BYTES  # one image: the 32 MiB floor
    token = images_asked.set(10)
    try:
        assert response_cap(None) == 10 * RESPONSE_BYTES_PER_IMAGE > 45_000_000
        assert response_cap(CAP) == CAP  # the operator's cap is the cap
    finally:
        images_asked.reset(token)


async def test_a_declared_size_over_the_floor_is_read_when_the_call_asked_for_more_images() -> None:
    declared = b"content-length: %d\r\n" % (DEFAULT_MAX_RESPONSE_BYTES + 1)
    async for url in _server(declared, b"A" * 10):
        async with build_client(httpx.Timeout(5.0)) as client:
            with pytest.raises(ProviderError) as caught:  # one image asked: over the floor, not read
                await upstream.send(client, "p", "POST", url, json={})
            assert caught.value.failure is FailureClass.UPSTREAM_INVALID
            token = images_asked.set(4)
            try:  # four images asked: the same declared size is admitted (then cut short by the server)
                with pytest.raises(ProviderError) as short:
                    await upstream.send(client, "p", "POST", url, json={})
                assert "over the" not in short.value.message
            finally:
                images_asked.reset(token)


# --- every image proven to decode, within a pixel cap from the request ------------------------------


UNDECODABLE = {
    "truncated png": truncated_png(),
    "corrupt idat": corrupt_idat_png(),
    "truncated jpeg": jpeg()[: len(jpeg()) // 2],
    "jpeg short of its header": short_jpeg(4096),  # ends with EOI: libjpeg would fill grey
}


@pytest.mark.parametrize("data", UNDECODABLE.values(), ids=UNDECODABLE.keys())
@pytest.mark.parametrize(
    "req",
    [
        request(),
        request(output_type=OutputType.FILE),
        request(output_format=OutputFormat.WEBP),
        request(embed_exif_metadata=True),
    ],
    ids=["passthrough", "bytes", "transcode", "embed"],
)
@pytest.mark.parametrize("as_base64", [True, False], ids=["b64", "raw"])
async def test_an_image_that_does_not_decode_is_upstream_invalid(
    data: bytes, req: ImageRequest, as_base64: bool
) -> None:
    image = ProviderImage(b64=base64.b64encode(data).decode()) if as_base64 else ProviderImage(data=data)
    with pytest.raises(ProviderError) as caught:
        await finishing.check_image("p", image, req)
    assert caught.value.failure is FailureClass.UPSTREAM_INVALID


async def test_a_jpeg_short_of_its_header_is_truncated_even_as_a_jpeg_passthrough() -> None:
    with pytest.raises(ProviderError) as caught:
        await finishing.check_image("p", ProviderImage(data=short_jpeg(4096)), request(output_format=OutputFormat.JPEG))
    assert caught.value.failure is FailureClass.UPSTREAM_INVALID and "truncated image" in caught.value.message
    checked = await finishing.check_image("p", ProviderImage(data=jpeg()), request(output_format=OutputFormat.JPEG))
    assert checked.format is OutputFormat.JPEG  # a whole JPEG still passes


async def test_a_decompression_bomb_is_refused_from_its_header(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[object] = []
    monkeypatch.setattr(imaging, "prove_decodable", lambda *a: decoded.append(a))
    monkeypatch.setattr(imaging, "_reencode", lambda *a: decoded.append(a) or b"")
    for image in (ProviderImage(data=bomb_png()), ProviderImage(b64=base64.b64encode(bomb_png()).decode())):
        with pytest.raises(ProviderError, match="out of bounds"):
            await finishing.check_image("p", image, request(output_format=OutputFormat.WEBP))
        with pytest.raises(ProviderError, match="out of bounds"):
            await finishing.check_image("p", image, request())
    assert decoded == []
    assert finishing.pixel_cap(request(width=8192, height=8192)) == 8192 * 8192  # asked for: allowed
    assert finishing.pixel_cap(request(aspect_ratio=(16, 9))) >= 2752 * 1536  # flux ultra picks ~4.2 MP


async def test_a_result_keeps_its_good_images_and_fails_only_when_none_decodes() -> None:
    good, bad = ProviderImage(data=png()), ProviderImage(data=truncated_png())
    result = await finishing.check_result("p", request(n=2), ProviderResult(images=[good, bad], raw={}))
    assert len(result.images) == 1 and "1 of 2 images from p did not decode" in result.warnings[-1]
    with pytest.raises(ProviderError) as caught:
        await finishing.check_result("p", request(), ProviderResult(images=[bad], raw={}))
    assert caught.value.failure is FailureClass.UPSTREAM_INVALID


async def test_extra_images_are_dropped_before_any_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded: list[bytes] = []
    original = imaging._reencode

    def counting(data: bytes, target: OutputFormat, embed: str | None) -> bytes:
        encoded.append(data)
        return original(data, target, embed)

    monkeypatch.setattr(imaging, "_reencode", counting)
    req = request(output_format=OutputFormat.WEBP)
    result = ProviderResult(
        images=[ProviderImage(data=png())] * 300, raw={"data": [{"b64_json": "<elided>"}] * 300}
    )
    outcome = ShardOutcome(shard=Shard(0, 0, req), result=result, deployment=_deployment())
    result = await finish("r", req, [outcome])
    response, images = generate_response(result), result.images
    assert len(images) == 1 and len(encoded) == 1
    assert len(response.provider_metadata.raw["data"]) == redaction.RAW_MAX_ITEMS + 1


def _deployment() -> Any:
    from gateway.config import DeploymentConfig
    from gateway.runtime import Deployment

    adapter = MockAdapter(provider="p", settings={}, client=httpx.AsyncClient())
    return Deployment(
        label="p/m", provider="p", adapter=adapter, config=DeploymentConfig(provider="p", model="m")
    )


# --- provider_metadata.raw is bounded ----------------------------------------------------------------


def test_raw_elides_long_strings_long_lists_and_deep_nesting() -> None:
    long = "a cat, " * (3 * 1024 * 1024)  # 21 MiB, not base64
    deep: dict[str, object] = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    raw = redaction.scrub({"revised_prompt": long, "items": list(range(500)), "deep": deep, "id": "img_1"})
    assert isinstance(raw, dict)
    assert raw["revised_prompt"].endswith(f"<elided: {len(long)} chars>")
    assert len(raw["revised_prompt"]) < 400
    assert raw["items"][-1] == "<elided: 436 more items>" and raw["id"] == "img_1"
    assert "nested too deep" in json.dumps(raw["deep"])
    assert len(json.dumps(raw)) < 4096


# --- the mock: safe default size, drawn off the event loop --------------------------------------------


async def test_the_mock_caps_its_size_by_default_and_says_so() -> None:
    adapter = MockAdapter(provider="mock", settings={}, client=httpx.AsyncClient())
    ctx = CallContext(request_id="r", provider_model="mock-v1", deadline=1e12)
    result = await adapter.generate(request(width=8192, height=8192), ctx)
    info = imaging.inspect(result.images[0].data)
    assert (info.width, info.height) == (2048, 2048)
    assert any("used 2048x2048" in w for w in result.warnings)
    assert adapter.capabilities("mock-v1").max_side == 2048
