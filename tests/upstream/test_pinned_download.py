"""The download GET under a pinned-address policy (client URLs: edit inputs) and multipart files
whose name repeats (OpenAI's `image[]`): gateway/upstream/downloads.py, gateway/upstream/http.py."""

from __future__ import annotations

import httpx
import pytest

from gateway import upstream
from gateway.errors import FailureClass, ProviderError
from tests.fakes.openai import parse_multipart
from tests.support.images import png


def _policy(addresses: dict[str, list[str]]) -> upstream.DownloadPolicy:
    async def resolve(host: str) -> list[str]:
        if host not in addresses:
            raise OSError("no such host")
        return addresses[host]

    return upstream.DownloadPolicy(allowed_hosts=("*",), max_bytes=10_000, pin_address=True, resolve=resolve)


def _client(seen: list[httpx.Request]) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=png(size=(4, 4)))

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_the_connection_goes_to_the_address_resolved_once() -> None:
    seen: list[httpx.Request] = []
    policy = _policy({"img.example": ["2606:4700::1111", "1.1.1.1"]})
    async with _client(seen) as client:
        await upstream.download(client, "images[0]", "https://img.example:8443/a.png?x=1", policy)
    (request,) = seen
    assert str(request.url) == "https://[2606:4700::1111]:8443/a.png?x=1"
    assert request.headers["host"] == "img.example:8443"
    assert request.extensions["sni_hostname"] == "img.example"  # TLS checks the name's certificate


@pytest.mark.parametrize(
    ("addresses", "says"),
    [
        (["1.1.1.1", "10.0.0.1"], "resolves to a private address"),  # one private answer is enough
        (["::ffff:127.0.0.1"], "resolves to a private address"),
        (["100.64.0.1"], "resolves to a private address"),  # carrier-grade NAT
        (["fd00::1"], "resolves to a private address"),
        # IPv6 forms that carry an IPv4 address a gateway or relay translates to: NAT64, 6to4,
        # IPv4-compatible, Teredo (Python's is_global calls all of these global)
        (["64:ff9b::a9fe:a9fe"], "resolves to a private address"),  # NAT64 -> 169.254.169.254
        (["64:ff9b:1::a00:1"], "resolves to a private address"),  # local-use NAT64 (RFC 8215)
        (["2002:7f00:1::"], "resolves to a private address"),  # 6to4 -> 127.0.0.1
        (["::7f00:1"], "resolves to a private address"),  # IPv4-compatible -> 127.0.0.1
        (["2001:0:4136:e378:8000:63bf:f5ff:fffe"], "resolves to a private address"),  # Teredo -> 10.0.0.1
        ([], "does not resolve"),
    ],
)
async def test_names_with_non_public_addresses_are_refused(addresses: list[str], says: str) -> None:
    seen: list[httpx.Request] = []
    async with _client(seen) as client:
        with pytest.raises(ProviderError) as info:
            await upstream.download(
                client, "mask", "https://img.example/a.png", _policy({"img.example": addresses})
            )
    assert says in info.value.message and info.value.failure is FailureClass.UPSTREAM_INVALID
    assert seen == []


async def test_unresolvable_name_is_refused_without_a_connection() -> None:
    seen: list[httpx.Request] = []
    async with _client(seen) as client:
        with pytest.raises(ProviderError, match="does not resolve"):
            await upstream.download(client, "images[1]", "https://nowhere.example/a.png", _policy({}))
    assert seen == []


async def test_send_multipart_with_a_repeated_file_name() -> None:
    seen: list[httpx.Request] = []
    one, two = png(size=(4, 4)), png((1, 2, 3), size=(4, 4))
    async with _client(seen) as client:
        await upstream.send(
            client,
            "p",
            "POST",
            "https://api.example/v1/images/edits",
            files=[("image[]", ("a.png", one, "image/png")), ("image[]", ("b.jpg", two, "image/jpeg"))],
            data={"prompt": "x"},
        )
    call = parse_multipart(seen[0])
    assert [(p.name, p.filename, p.content_type, p.data) for p in call.files] == [
        ("image[]", "a.png", "image/png", one),
        ("image[]", "b.jpg", "image/jpeg", two),
    ]
    assert call.fields == {"prompt": "x"}


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "127.1", "017700000001"])
async def test_numeric_spellings_of_loopback_resolve_to_it_and_are_refused(host: str) -> None:
    """The system resolver reads these as 127.0.0.1 (no DNS needed); the check is on what it returns."""
    seen: list[httpx.Request] = []
    policy = upstream.DownloadPolicy(allowed_hosts=("*",), pin_address=True)  # the real resolver
    async with _client(seen) as client:
        with pytest.raises(ProviderError, match="private address"):
            await upstream.download(client, "images[0]", f"https://{host}/a.png", policy)
    assert seen == []


async def test_international_names_go_out_idna_encoded() -> None:
    seen: list[httpx.Request] = []
    async with _client(seen) as client:
        await upstream.download(
            client,
            "images[0]",
            "https://bücher.example/a.png",
            _policy({"xn--bcher-kva.example": ["1.1.1.1"]}),
        )
    assert seen[0].headers["host"] == "xn--bcher-kva.example"
    assert seen[0].extensions["sni_hostname"] == "xn--bcher-kva.example"


@pytest.mark.parametrize("url", ["https://[::1/a.png", "https:///a.png"])
async def test_malformed_urls_are_refused(url: str) -> None:
    seen: list[httpx.Request] = []
    async with _client(seen) as client:
        with pytest.raises(ProviderError, match=r"malformed|no host"):
            await upstream.download(client, "images[0]", url, _policy({}))
    assert seen == []


async def test_a_compressed_body_is_refused_not_inflated() -> None:
    """A client's URL server may send a gzip bomb (1000:1): the pinned GET asks for identity and
    refuses any content-encoding, since httpx would inflate each chunk without a bound."""
    import gzip

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=gzip.compress(png(size=(4, 4))), headers={"content-encoding": "gzip"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        with pytest.raises(ProviderError, match="content-encoding 'gzip'"):
            await upstream.download(client, "images[0]", "https://img.example/a.png", _policy({"img.example": ["1.1.1.1"]}))
    assert seen[0].headers["accept-encoding"] == "identity"
