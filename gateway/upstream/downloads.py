"""Result downloads: the SSRF policy for provider-supplied URLs, and the capped, re-checked GET.

A provider hands us a URL (BFL `result.sample`, OpenAI `url`, ComfyUI `/view`). We fetch it only
if it is https (or http for local backends) on an allow-listed host that does not resolve to a
private address; redirects are re-checked per hop, the body is capped, the whole GET has a total
timeout, and provider credentials are never sent (basic auth only to a local server).

A client-supplied URL (an edit input, spec/image-edit.md) is fetched with the same GET under a
stricter policy: `pin_address` resolves the name once, refuses it if any address is not public,
and connects to that address (the name kept for the Host header, SNI and certificate check), so no
second lookup can be rebound to an internal address; each redirect hop is resolved and pinned anew.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from gateway.errors import FailureClass, ProviderError
from gateway.upstream.http import transport_error

DOWNLOAD_TRANSPORT = "download_transport_error"  # provider_code of a download that got no response
# A result that was just reported ready may 404 for a moment (a CDN, or ComfyUI's /view right after
# completion; theopenco/llmgateway#1762); these statuses are worth asking again.
DOWNLOAD_RETRY_STATUSES = (404, 408, 429, 500, 502, 503, 504)


def host_allowed(host: str, patterns: Iterable[str]) -> bool:
    """`api.bfl.ai` matches itself; `*.bfl.ai` matches any subdomain (not `bfl.ai` itself); `*` any
    host (client URLs: the private-address rules still apply)."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower()
        if pattern == "*":
            return True
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def check_url(
    provider: str, url: str, allowed_hosts: Iterable[str], *, allow_http: bool = False, what: str = "URL"
) -> None:
    """Refuse a provider-supplied URL unless https (or http for local backends) on an allowed host."""
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    host = parts.hostname or ""
    reason = None
    if parts.scheme not in schemes:
        reason = f"scheme {parts.scheme!r} is not allowed"
    elif not host:
        reason = "no host"
    elif not host_allowed(host, allowed_hosts):
        reason = f"host {host!r} is not on the allow-list"
    elif not allow_http and _private_ip(host):
        reason = f"host {host!r} is a private address"
    elif parts.username or parts.password:
        reason = "credentials in URL"
    if reason is not None:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} {what} refused: {reason}")


Resolver = Callable[[str], Awaitable[list[str]]]  # host name -> its addresses


async def system_resolve(host: str) -> list[str]:
    """The host's addresses from the system resolver (scope ids dropped)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%", 1)[0] for info in infos]


@dataclass(frozen=True, slots=True)
class DownloadPolicy:
    allowed_hosts: tuple[str, ...]
    allow_http: bool = False  # local backends only
    max_bytes: int = 50 * 1024 * 1024
    timeout: float = 120.0
    max_redirects: int = 3
    # A failed GET of a finished result: the image exists (and may be billed) but we lack it.
    # UPSTREAM_INVALID = no retry of the billed call, fallback allowed; local servers use TRANSIENT.
    transport_failure: FailureClass = FailureClass.UPSTREAM_INVALID
    # Client URLs: resolve once, refuse non-public addresses, connect to the address resolved.
    pin_address: bool = False
    resolve: Resolver = field(default=system_resolve)  # injected by tests (no DNS on the test box)
    # Called with each chunk's size as it arrives (edit inputs: a budget across several
    # downloads); it raises to stop the download.
    on_bytes: Callable[[int], None] | None = None


async def download(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    policy: DownloadPolicy,
    *,
    params: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> bytes:
    """GET a result URL under `policy`; never sends provider credentials (auth only for local servers)."""
    try:
        async with asyncio.timeout(policy.timeout):
            return await _download(client, provider, url, policy, params, auth)
    except TimeoutError:
        raise ProviderError(
            provider,
            policy.transport_failure,
            f"{provider} download timed out",
            provider_code=DOWNLOAD_TRANSPORT,
        ) from None
    except httpx.DecodingError as exc:  # too large or undecodable: never worth a retry
        raise transport_error(provider, exc, what="download") from exc
    except (ValueError, httpx.InvalidURL):  # urlsplit / httpx.URL refused it (a bad IPv6 literal, ...)
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} URL is malformed") from None
    except httpx.HTTPError as exc:
        error = transport_error(provider, exc, what="download")
        raise ProviderError(
            provider, policy.transport_failure, error.message, provider_code=DOWNLOAD_TRANSPORT
        ) from exc


def download_retryable(exc: ProviderError) -> bool:
    """A failed result GET worth repeating (adapters.polling.download_until): no response at all,
    or a transient status."""
    return exc.provider_code == DOWNLOAD_TRANSPORT or exc.status in DOWNLOAD_RETRY_STATUSES


async def _download(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    policy: DownloadPolicy,
    params: Mapping[str, str] | None,
    auth: tuple[str, str] | None,
) -> bytes:
    for _hop in range(policy.max_redirects + 1):
        check_url(provider, url, policy.allowed_hosts, allow_http=policy.allow_http, what="download URL")
        target: str | httpx.URL = url
        headers: dict[str, str] | None = None
        extensions: dict[str, object] | None = None
        if policy.pin_address:
            target, headers, extensions = await _pinned(provider, url, policy.resolve)
        elif not policy.allow_http and await _resolves_to_private(urlsplit(url).hostname or ""):
            raise ProviderError(
                provider,
                FailureClass.UPSTREAM_INVALID,
                f"{provider} download URL refused: host resolves to a private address",
            )
        basic = httpx.BasicAuth(*auth) if auth and policy.allow_http else None
        async with client.stream(
            "GET", target, params=params, auth=basic, headers=headers, extensions=extensions,
            follow_redirects=False,
        ) as response:
            if response.is_redirect and "location" in response.headers:
                url, params = urljoin(url, response.headers["location"]), None
                continue
            if response.status_code != 200:
                raise ProviderError(
                    provider,
                    FailureClass.UPSTREAM_INVALID,
                    f"{provider} download returned HTTP {response.status_code}",
                    status=response.status_code,
                )
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if policy.pin_address and encoding != "identity":  # httpx would inflate each chunk unbounded
                raise ProviderError(
                    provider,
                    FailureClass.UPSTREAM_INVALID,
                    f"{provider} download refused: content-encoding {encoding!r} (images are sent as they are)",
                )
            return await _read_capped(provider, response, policy.max_bytes, policy.on_bytes)
    raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} download: too many redirects")


async def _pinned(
    provider: str, url: str, resolve: Resolver
) -> tuple[httpx.URL, dict[str, str], dict[str, object]]:
    """`url` with its host replaced by the one public address it resolves to, the Host header and
    the TLS server name (SNI and certificate check) kept as the name."""
    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded: what DNS, the Host header and SNI take
    if _private_ip(host) or host == "localhost" or host.endswith(".localhost"):
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} URL refused: private address")
    try:
        addresses = [host] if _is_ip(host) else await resolve(host)
    except OSError:
        addresses = []
    if not addresses:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, f"{provider} URL refused: host does not resolve")
    if any(_private_ip(address) for address in addresses):
        raise ProviderError(
            provider,
            FailureClass.UPSTREAM_INVALID,
            f"{provider} URL refused: host resolves to a private address",
        )
    name = host if parsed.port is None else f"{host}:{parsed.port}"
    headers = {"host": name, "accept-encoding": "identity"}  # a client's server may be hostile: no gzip bombs
    return parsed.copy_with(host=addresses[0]), headers, {"sni_hostname": host}


async def _read_capped(
    provider: str, response: httpx.Response, max_bytes: int, on_bytes: Callable[[int], None] | None = None
) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ProviderError(
            provider, FailureClass.UPSTREAM_INVALID, f"{provider} image exceeds {max_bytes} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ProviderError(
                provider, FailureClass.UPSTREAM_INVALID, f"{provider} image exceeds {max_bytes} bytes"
            )
        if on_bytes is not None:
            on_bytes(len(chunk))
        chunks.append(chunk)
    return b"".join(chunks)


async def pin(url: str, resolve: Resolver = system_resolve) -> tuple[httpx.URL, dict[str, str], dict[str, object]]:
    """For other client-supplied URLs (webhooks): the URL with its host pinned to the one public
    address it resolves to, the Host header and TLS server name kept (ProviderError: refused)."""
    return await _pinned("webhook", url, resolve)


async def resolves_to_private(host: str) -> bool:
    """Whether `host` is, or resolves to, a non-public address (webhook URLs use the same rule)."""
    return await _resolves_to_private(host)


async def _resolves_to_private(host: str) -> bool:
    """An allow-listed name may still point at loopback or a metadata address (DNS rebinding, a
    hostile wildcard record): refuse those for remote providers. A name that does not resolve here
    passes, since the connection itself then fails. (The check narrows, not closes, the window:
    httpx resolves again when it connects.)"""
    if _private_ip(host) or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(host, None), timeout=2.0)
    except (OSError, TimeoutError):
        return False
    return any(_private_ip(str(info[4][0]).split("%", 1)[0]) for info in infos)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# IPv6 ranges whose low 32 bits are an IPv4 address a translator (NAT64) or the kernel
# (IPv4-compatible) may deliver to; 64:ff9b:1::/48 is local-use NAT64 (RFC 8215) altogether.
_IPV4_IN_LOW_BITS = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("::/96"))
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def _private_ip(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64:
            return True
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is None and any(address in net for net in _IPV4_IN_LOW_BITS):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not embedded.is_global:
            return True
    return not address.is_global
