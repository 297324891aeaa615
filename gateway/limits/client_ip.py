"""Who is calling, network-wise: the socket peer, or X-Forwarded-For behind a trusted proxy.

The rate-limit identity of an IPv6 client is its /64 (one host can own 2^64 addresses); IPv4-mapped
IPv6 addresses count as the IPv4 address.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=32)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _parse(value: str) -> Address | None:
    text = value.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:1234"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def resolve_client_ip(
    peer: str, forwarded_for: str | Sequence[str] | None, trusted_proxies: tuple[str, ...]
) -> str:
    """The client address: the peer, unless the peer is a trusted proxy; then the right-most
    X-Forwarded-For entry that is not itself a trusted proxy (entries further left are spoofable).

    `forwarded_for` is every X-Forwarded-For field line in order: a proxy may append its hop as a new
    line (HAProxy does) instead of extending the client's line, and RFC 9110 5.3 makes repeated lines
    one comma-joined list. Reading only the first line would read the client's forgery."""
    if forwarded_for is not None and not isinstance(forwarded_for, str):
        forwarded_for = ",".join(forwarded_for)
    networks = _networks(trusted_proxies)
    address = _parse(peer)
    if address is None or not networks or not forwarded_for:
        return str(address) if address is not None else peer

    def trusted(candidate: Address) -> bool:
        return any(candidate in network for network in networks)

    if not trusted(address):
        return str(address)
    for hop in reversed(forwarded_for.split(",")):
        candidate = _parse(hop)
        if candidate is None:
            break  # a garbled hop: stop at the last address we can vouch for
        address = candidate
        if not trusted(candidate):
            break
    return str(address)


def ip_identity(ip: str) -> str:
    """The limiter's entity for an address: `ip:<v4>` or `ip6:<prefix>/64`."""
    address = _parse(ip)
    if address is None:
        return "ip:unknown"
    if isinstance(address, ipaddress.IPv6Address):
        return f"ip6:{ipaddress.IPv6Network((address, 64), strict=False)}"
    return f"ip:{address}"
