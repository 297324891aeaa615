"""POST /api/v1/image/edit: every bad input is a 400 `invalid_request` naming it, refused before
any provider call (spec/image-edit.md "Input limits")."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.config import parse_config
from gateway.settings import Settings
from tests.api.edit_routing import EDIT_ROUTING
from tests.support.edit import PUBLIC_IP, FakeWeb, data_url, header_only_png, mask_png, picture
from tests.support.images import short_jpeg

URL = "/api/v1/image/edit"
BASE = picture((96, 64))
LIMITS = "server:\n  edit: {max_image_bytes: 100000, url_timeout_seconds: 0.3}\n"
WEB = {
    "images.example/base.png": httpx.Response(200, content=BASE, headers={"content-type": "image/png"}),
    "images.example/to-private": httpx.Response(302, headers={"location": "https://internal.example/x.png"}),
    "images.example/to-loopback": httpx.Response(302, headers={"location": "https://127.0.0.1/x.png"}),
    "images.example/to-http": httpx.Response(302, headers={"location": "http://cdn.example/base.png"}),
    "images.example/hop": httpx.Response(302, headers={"location": "https://cdn.example/base.png"}),
    "cdn.example/base.png": httpx.Response(200, content=BASE),
    "images.example/mask.png": httpx.Response(200, content=mask_png((96, 64), (0, 0, 9, 9))),
    "images.example/huge.png": httpx.Response(200, content=BASE + b"\x00" * 200_000),
    "images.example/slow.png": "slow",
    "images.example/page.html": httpx.Response(200, content=b"<html>not an image</html>"),
}


@pytest.fixture
async def app_web() -> AsyncIterator[tuple[AsyncTestClient[Litestar], FakeWeb, Litestar]]:
    app = create_app(Settings(), config=parse_config(EDIT_ROUTING + LIMITS))
    web = FakeWeb(dict(WEB))
    app.state.edit_url_fetch = web.fetch()
    async with AsyncTestClient(app=app) as client:
        yield client, web, app


def body(*images: dict[str, str], **extra: object) -> dict[str, object]:
    return {"model": "mock", "prompt": "paint it", "images": list(images), **extra}


async def refused(client: AsyncTestClient[Litestar], payload: dict[str, object]) -> tuple[str, str]:
    response = await client.post(URL, json=payload)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    return error["param"], error["message"]


def mock_calls(app: Litestar) -> int:
    adapter = app.state.services.runtime.adapters["mock"]
    return int(adapter.calls)


OK = {"b64": data_url(BASE)}


@pytest.mark.parametrize(
    ("images", "mask", "param", "says"),
    [
        (
            [OK, {"b64": data_url(b"this is text, not a picture")}],
            None,
            "images[1]",
            "not a PNG, JPEG or WebP",
        ),
        ([OK, OK, {"b64": data_url(header_only_png(9000, 9000))}], None, "images[2]", "9000x9000"),
        ([{"b64": data_url(BASE, "image/jpeg")}], None, "images[0]", "declared as image/jpeg"),
        ([{"b64": data_url(picture((8, 8), fmt="JPEG"), "image/webp")}], None, "images[0]", "JPEG"),
        ([OK], {"b64": data_url(mask_png((64, 64), (0, 0, 10, 10)))}, "mask", "64x64"),
        ([{"b64": "iVBORw0KGgo="}], None, "images[0]", "data URL"),
        ([{"b64": "data:image/gif;base64,R0lGODlh"}], None, "images[0]", "image/gif"),
        ([{"b64": "data:image/png;base64,@@@@"}], None, "images[0]", "base64"),
        (
            [{"b64": data_url(BASE), "url": "https://images.example/base.png"}],
            None,
            "images[0]",
            "exactly one",
        ),
        ([{}], None, "images[0]", "exactly one"),
        ([{"url": "http://images.example/base.png"}], None, "images[0]", "https"),
        ([OK], {"b64": data_url(b"\x89PNG\r\n\x1a\n broken")}, "mask", "not a readable png"),
        ([OK], {"b64": data_url(BASE)}, "mask", "no alpha channel"),
        ([OK], {"b64": data_url(picture((96, 64), fmt="JPEG"), "image/jpeg")}, "mask", "no alpha channel"),
        ([{"b64": "DATA:IMAGE/PNG;BASE64," + data_url(b"x")[22:]}], None, "images[0]", "not a PNG"),
    ],
)
async def test_bad_inline_input_is_refused_naming_it(
    app_web: tuple[AsyncTestClient[Litestar], FakeWeb, Litestar],
    images: list[dict[str, str]],
    mask: dict[str, str] | None,
    param: str,
    says: str,
) -> None:
    client, _, app = app_web
    payload = body(*images) if mask is None else body(*images, mask=mask)
    got_param, message = await refused(client, payload)
    assert got_param == param and says in message
    assert mock_calls(app) == 0


async def test_giant_header_is_refused_without_decoding(
    app_web: tuple[AsyncTestClient[Litestar], FakeWeb, Litestar], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _, _ = app_web
    decoded: list[bytes] = []
    monkeypatch.setattr("gateway.imaging.prove_decodable", lambda data, fmt: decoded.append(data))
    param, message = await refused(client, body({"b64": data_url(header_only_png(9000, 9000))}))
    assert param == "images[0]" and "the limit is 8192x8192" in message
    assert decoded == []  # refused from the header: no pixel decoder ran


async def test_undecodable_pixels_are_refused_after_the_header(
    app_web: tuple[AsyncTestClient[Litestar], FakeWeb, Litestar],
) -> None:
    client, _, app = app_web
    param, message = await refused(client, body(OK, {"b64": data_url(header_only_png(64, 64))}))
    assert param == "images[1]" and "does not decode" in message
    assert mock_calls(app) == 0


async def test_seventeen_images_and_n_above_six_are_refused(
    app_web: tuple[AsyncTestClient[Litestar], FakeWeb, Litestar],
) -> None:
    client, _, _ = app_web
    assert (await refused(client, body(*[OK] * 17)))[0] == "images"
    assert (await refused(client, body()))[0] == "images"
    assert (await refused(client, body(OK, n=7)))[0] == "n"
    assert (await refused(client, body(OK, hide_watermark=True)))[
        0
    ] == "hide_watermark"  # generate-only field
    assert (await refused(client, body(OK, strength=1.5)))[0] == "strength"
    assert (await refused(client, body({"b64": data_url(BASE), "extra": 1})))[0] == "images[0]"


async def test_image_over_the_byte_cap_is_refused_before_decoding(
    app_web: tuple[AsyncTestClient[Litestar], FakeWeb, Litestar],
) -> None:
    client, _, _ = app_web
    big = BASE + b"\x00" * 120_000  # over server.edit.max_image_bytes (100000 here)
    param, message = await refused(client, body(OK, {"b64": data_url(big)}))
    assert param == "images[1]" and "larger than 100000 bytes" in message


async def test_body_over_the_route_cap_is_413() -> None:
    app = create_app(
        Settings(), config=parse_config(EDIT_ROUTING + "server:\n  edit: {max_body_bytes: 4096}\n")
    )
    async with AsyncTestClient(app=app) as client:
        response = await client.post(URL, json=body({"b64": data_url(picture((64, 64)) + b"\x00" * 8000)}))
    assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"


async def test_edit_body_may_exceed_the_generate_cap(
    app_web: tuple[AsyncTestClient[Litestar], FakeWeb, Litestar],
) -> None:
    """server.max_body_bytes (1 MiB) bounds generate; this route has its own (64 MiB default)."""
    client, _, _ = app_web
    noisy = picture((96, 64))
    references = [{"b64": data_url(noisy + b"\x00" * 90_000)} for _ in range(14)]  # ~1.7 MB of JSON
    response = await client.post(URL, json=body(OK, *references))
    assert response.status_code == 200, response.text
    assert len(response.json()["input_images"]) == 15


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("https://127.0.0.1/a.png", "private address"),
        ("https://[::1]/a.png", "private address"),
        ("https://169.254.169.254/latest/meta-data", "private address"),
        ("https://internal.example/a.png", "resolves to a private address"),
        ("https://metadata.example/a.png", "resolves to a private address"),
        ("https://localhost/a.png", "private address"),
        ("https://images.example/to-private", "resolves to a private address"),
        ("https://images.example/to-loopback", "private address"),
        ("https://images.example/to-http", "scheme 'http' is not allowed"),
        ("https://images.example/slow.png", "timed out"),
        ("https://images.example/huge.png", "exceeds 100000 bytes"),
        ("https://images.example/page.html", "not a PNG, JPEG or WebP"),
        ("https://images.example/missing.png", "HTTP 404"),
        ("https://user:pw@images.example/base.png", "credentials"),
    ],
)
async def test_bad_url_input_is_refused_naming_it(
    app_web: tuple[AsyncTestClient[Litestar], FakeWeb, Litestar], url: str, says: str
) -> None:
    client, web, app = app_web
    param, message = await refused(client, body(OK, {"url": url}))
    assert param == "images[1]" and says in message, message
    assert all(r.url.host == PUBLIC_IP for r in web.requests)  # nothing ever connected elsewhere
    assert mock_calls(app) == 0


async def test_url_input_is_fetched_at_the_pinned_address(
    app_web: tuple[AsyncTestClient[Litestar], FakeWeb, Litestar],
) -> None:
    client, web, _ = app_web
    response = await client.post(
        URL,
        json=body(
            {"url": "https://images.example/hop"}, mask={"b64": data_url(mask_png((96, 64), (0, 0, 9, 9)))}
        ),
    )
    assert response.status_code == 200, response.text
    assert response.json()["input_images"] == [{"width": 96, "height": 64}]
    assert [(r.url.host, r.headers["host"], r.extensions.get("sni_hostname")) for r in web.requests] == [
        (PUBLIC_IP, "images.example", "images.example"),
        (PUBLIC_IP, "cdn.example", "cdn.example"),  # the redirect was resolved and pinned again
    ]
    assert web.lookups == ["images.example", "cdn.example"]


async def test_mask_from_a_url_is_compared_with_the_base(
    app_web: tuple[AsyncTestClient[Litestar], FakeWeb, Litestar],
) -> None:
    client, _, _ = app_web
    param, message = await refused(
        client, body({"b64": data_url(picture((32, 32)))}, mask={"url": "https://images.example/mask.png"})
    )
    assert param == "mask" and "96x64" in message and "32x32" in message


@pytest.mark.parametrize(
    ("model", "extra", "param"),
    [
        ("plain-image", {}, "model"),
        ("single-image", {"images": [OK, OK]}, "images"),
        ("nomask-image", {"mask": {"b64": data_url(mask_png((96, 64), (0, 0, 5, 5)))}}, "mask"),
    ],
)
async def test_model_that_cannot_do_the_edit_is_400(
    app_web: tuple[AsyncTestClient[Litestar], FakeWeb, Litestar],
    model: str,
    extra: dict[str, object],
    param: str,
) -> None:
    client, _, _ = app_web
    payload = {**body(OK), "model": model, **extra}
    assert (await refused(client, payload))[0] == param


async def test_unknown_model_is_404(app_web: tuple[AsyncTestClient[Litestar], FakeWeb, Litestar]) -> None:
    client, _, _ = app_web
    response = await client.post(URL, json={**body(OK), "model": "nope"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"


async def test_several_bad_urls_name_the_first_in_input_order(
    app_web: tuple[AsyncTestClient[Litestar], FakeWeb, Litestar],
) -> None:
    client, _, _ = app_web
    urls = [{"url": "https://images.example/base.png"}, {"url": "https://images.example/missing.png"}]
    param, _ = await refused(client, body(*urls, {"url": "https://internal.example/a.png"}))
    assert param == "images[1]"


TOTALS = "server:\n  edit: {max_image_bytes: 1000000, max_total_bytes: 150000, max_total_pixels: 20000}\n"


@pytest.fixture
async def totals_web() -> AsyncIterator[tuple[AsyncTestClient[Litestar], FakeWeb, list[int]]]:
    """Budgets across inputs: 150 kB and 20,000 header pixels per request. `/stream.png` streams
    10 kB chunks (up to 500 kB); the list counts the chunks it was asked for."""
    pulled: list[int] = []

    def stream(_: httpx.Request) -> httpx.Response:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(50):
                pulled.append(1)
                yield b"\x00" * 10_000

        return httpx.Response(200, content=chunks(), headers={"content-type": "image/png"})

    web = FakeWeb({**WEB, "images.example/stream.png": stream})
    app = create_app(Settings(), config=parse_config(EDIT_ROUTING + TOTALS))
    app.state.edit_url_fetch = web.fetch()
    async with AsyncTestClient(app=app) as client:
        yield client, web, pulled


async def test_total_pixels_are_refused_from_the_headers_before_any_decode(
    totals_web: tuple[AsyncTestClient[Litestar], FakeWeb, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data URL headers are summed before admission; a fetched URL's header joins the sum before
    any input (not even the data URLs) is decoded."""
    client, _, _ = totals_web
    decoded: list[bytes] = []
    monkeypatch.setattr("gateway.imaging.prove_decodable", lambda data, fmt: decoded.append(data))
    inline = [{"b64": data_url(header_only_png(100, 100))} for _ in range(3)]  # 10,000 pixels each
    param, message = await refused(client, body(*inline))
    assert param == "images[2]" and "20000 pixels in total" in message and "max_total_pixels" in message
    base_url = {"url": "https://images.example/base.png"}  # 96x64 = 6,144 pixels
    param, message = await refused(client, body({"b64": data_url(header_only_png(120, 120))}, base_url))
    assert param == "images[1]" and "96x64" in message
    assert decoded == []


async def test_mask_counts_toward_the_pixel_total(
    totals_web: tuple[AsyncTestClient[Litestar], FakeWeb, list[int]],
) -> None:
    client, _, _ = totals_web
    base = {"b64": data_url(picture((120, 100)))}  # 12,000 pixels, and the mask the same
    param, _ = await refused(client, body(base, mask={"b64": data_url(mask_png((120, 100), (0, 0, 9, 9)))}))
    assert param == "mask"


async def test_total_bytes_of_data_urls_name_the_input_that_crossed(
    totals_web: tuple[AsyncTestClient[Litestar], FakeWeb, list[int]],
) -> None:
    client, _, _ = totals_web
    padded = {"b64": data_url(picture((8, 8)) + b"\x00" * 60_000)}  # a valid header, 60 kB each
    param, message = await refused(client, body(padded, padded, padded))
    assert param == "images[2]" and "150000 bytes in total" in message and "max_total_bytes" in message


async def test_url_fetch_stops_once_the_running_total_passes_the_cap(
    totals_web: tuple[AsyncTestClient[Litestar], FakeWeb, list[int]],
) -> None:
    """90 kB inline, then a URL streaming 10 kB chunks: refused at the chunk that passes 150 kB,
    long before the 500 kB the server would send (the per-image cap here is 1 MB)."""
    client, _, pulled = totals_web
    inline = {"b64": data_url(picture((8, 8)) + b"\x00" * 90_000)}
    param, message = await refused(client, body(inline, {"url": "https://images.example/stream.png"}))
    assert param == "images[1]" and "150000 bytes in total" in message
    assert 6 <= len(pulled) <= 8


async def test_a_jpeg_claiming_more_pixels_than_its_data_holds_is_truncated(
    app_web: tuple[AsyncTestClient[Litestar], FakeWeb, Litestar],
) -> None:
    """A 633-byte JPEG (EOI included) whose header says 8192x8192: libjpeg would "decode" it into
    grey; the scan-size bound refuses it before the decoder runs."""
    client, _, app = app_web
    param, message = await refused(client, body(OK, {"b64": data_url(short_jpeg(8192), "image/jpeg")}))
    assert param == "images[1]" and "does not decode: truncated image" in message
    assert mock_calls(app) == 0
