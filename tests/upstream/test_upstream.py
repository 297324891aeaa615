"""The network boundary: exception mapping, Retry-After, elision/redaction, the download guard."""

from __future__ import annotations

import httpx
import pytest

from gateway import upstream
from gateway.errors import FailureClass, ProviderError
from tests.support.images import png

F = FailureClass


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("x"), F.CONNECT),
        (httpx.ConnectTimeout("x"), F.CONNECT),
        (httpx.PoolTimeout("x"), F.CONNECT),
        (httpx.ReadTimeout("x"), F.AMBIGUOUS),
        (httpx.ReadError("x"), F.AMBIGUOUS),
        (httpx.WriteTimeout("x"), F.AMBIGUOUS),
        (httpx.RemoteProtocolError("x"), F.AMBIGUOUS),
    ],
)
async def test_send_maps_transport_errors_once(exc: Exception, expected: FailureClass) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ProviderError) as info:
            await upstream.send(client, "p", "POST", "https://api.example/x?key=SECRET", json={"a": 1})
    assert info.value.failure is expected and "SECRET" not in info.value.message


@pytest.mark.parametrize(
    ("headers", "hint", "seconds"),
    [
        ({"retry-after": "12"}, None, 12.0),
        ({"retry-after-ms": "1500", "retry-after": "9"}, None, 1.5),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, None, 0.0),
        ({}, 5, 5.0),
        ({}, None, None),
        ({"retry-after": "soon"}, None, None),
        ({"retry-after": "nan"}, None, None),  # float("nan") parses: it must not reach a sleep
        ({"retry-after-ms": "NaN", "retry-after": "2"}, None, 2.0),
    ],
)
def test_retry_after(headers: dict[str, str], hint: object, seconds: float | None) -> None:
    assert upstream.retry_after(headers, hint) == seconds


def test_elide_base64_by_key_and_by_shape() -> None:
    blob = "A" * 300
    raw = upstream.elide_base64(
        {
            "data": [{"b64_json": "iVBORw0KGgo", "revised_prompt": "short text"}],
            "images": ["abc", "def"],
            "x": blob,
        }
    )
    assert raw == {
        "data": [{"b64_json": "<base64 elided: 11 chars>", "revised_prompt": "short text"}],
        "images": ["<base64 elided: 3 chars>", "<base64 elided: 3 chars>"],
        "x": "<base64 elided: 300 chars>",
    }


def test_redaction() -> None:
    assert (
        upstream.redact_url("https://u:p@cdn.example:8443/a/b.png?sig=abc&se=1")
        == "https://cdn.example:8443/a/b.png?<redacted>"
    )
    assert upstream.redact_url("https://cdn.example/a.png") == "https://cdn.example/a.png"
    text = "Incorrect API key provided: sk-proj-abcdef1234. Also MYSECRET."
    assert upstream.redact(text, ["MYSECRET"]) == "Incorrect API key provided: <redacted>. Also <redacted>."


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("api.bfl.ai", True),
        ("api.us1.bfl.ai", True),
        ("bfl.ai", False),
        ("evilbfl.ai", False),
        ("bfl.ai.evil.com", False),
    ],
)
def test_host_allow_list(host: str, allowed: bool) -> None:
    assert upstream.host_allowed(host, ["*.bfl.ai"]) is allowed


def _client(routes: dict[str, httpx.Response], seen: list[httpx.Request]) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return routes.get(str(request.url), httpx.Response(404))

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


POLICY = upstream.DownloadPolicy(allowed_hosts=("cdn.example", "*.cdn.example"), max_bytes=10_000)


async def test_download_follows_redirects_only_to_allowed_hosts() -> None:
    image, seen = png(), []
    routes = {
        "https://cdn.example/a.png": httpx.Response(
            302, headers={"location": "https://eu.cdn.example/a.png"}
        ),
        "https://eu.cdn.example/a.png": httpx.Response(200, content=image),
        "https://cdn.example/evil.png": httpx.Response(
            302, headers={"location": "https://attacker.example/x"}
        ),
    }
    async with _client(routes, seen) as client:
        assert await upstream.download(client, "p", "https://cdn.example/a.png", POLICY) == image
        with pytest.raises(ProviderError) as info:
            await upstream.download(client, "p", "https://cdn.example/evil.png", POLICY)
    assert info.value.failure is F.UPSTREAM_INVALID
    assert "attacker.example" not in [r.url.host for r in seen]


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.example/a.png",
        "https://other.example/a.png",
        "https://10.0.0.1/a.png",
        "ftp://cdn.example/a",
    ],
)
async def test_download_refuses_scheme_host_and_private_addresses(url: str) -> None:
    seen: list[httpx.Request] = []
    policy = upstream.DownloadPolicy(allowed_hosts=("cdn.example", "10.0.0.1"))
    async with _client({}, seen) as client:
        with pytest.raises(ProviderError) as info:
            await upstream.download(client, "p", url, policy)
    assert info.value.failure is F.UPSTREAM_INVALID and seen == []


async def test_download_caps_size_and_maps_status() -> None:
    seen: list[httpx.Request] = []
    routes = {
        "https://cdn.example/big.png": httpx.Response(200, content=b"\x89PNG" + b"0" * 20_000),
        "https://cdn.example/gone.png": httpx.Response(404),
    }
    async with _client(routes, seen) as client:
        for url in routes:
            with pytest.raises(ProviderError) as info:
                await upstream.download(client, "p", url, POLICY)
            assert info.value.failure is F.UPSTREAM_INVALID


async def test_local_download_allows_http() -> None:
    image, seen = png(), []
    policy = upstream.DownloadPolicy(allowed_hosts=("127.0.0.1",), allow_http=True)
    async with _client({"http://127.0.0.1:8188/view": httpx.Response(200, content=image)}, seen) as client:
        assert await upstream.download(client, "p", "http://127.0.0.1:8188/view", policy) == image


def test_require_image_checks_magic_bytes() -> None:
    assert upstream.require_image("p", png())
    with pytest.raises(ProviderError):
        upstream.require_image("p", b"<html>not an image</html>")


async def test_download_transport_failure_is_typed_and_marked() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow cdn")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ProviderError) as info:
            await upstream.download(client, "p", "https://cdn.example/a.png", POLICY)
    assert info.value.failure is F.UPSTREAM_INVALID
    assert info.value.provider_code == upstream.DOWNLOAD_TRANSPORT


async def test_send_multipart_files_and_fields() -> None:
    """`files=`/`data=` go out as multipart/form-data (image edits, Stability): httpx's boundary in
    the content-type, each part named, the image bytes untouched, no JSON content-type forced."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True})

    image = png(size=(8, 8))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        response = await upstream.send(
            client,
            "p",
            "POST",
            "https://api.example/v1/images/edits",
            headers={"authorization": "Bearer k"},
            files={"image": ("image.png", image, "image/png")},
            data={"prompt": "a red fox", "n": "1"},
            timeout=5.0,
        )
    assert response.status_code == 200
    (request,) = seen
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=", 1)[1].encode()
    body = request.read()
    parts = [p for p in body.split(b"--" + boundary) if p.strip(b"-\r\n")]
    assert len(parts) == 3
    assert b'name="image"; filename="image.png"' in body and b"Content-Type: image/png" in body
    assert image in body
    assert b'name="prompt"\r\n\r\na red fox\r\n' in body and b'name="n"\r\n\r\n1\r\n' in body
    assert request.headers["authorization"] == "Bearer k"


async def test_send_refuses_json_with_files() -> None:
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        with pytest.raises(ValueError, match="either json or files"):
            await upstream.send(client, "p", "POST", "https://x/", json={}, files={"f": ("f", b"", "x/y")})
