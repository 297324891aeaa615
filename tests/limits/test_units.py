"""Pure pieces: client IP resolution, IPv6 /64 identity, request cost, the Redis breaker, headers."""

from __future__ import annotations

import msgspec
import pytest

from gateway.canonical import ImageRequest, Resolution
from gateway.config import ConfigError, parse_config
from gateway.config.limits import RatePolicy
from gateway.limits.client_ip import ip_identity, resolve_client_ip
from gateway.limits.service import Evaluated, ratelimit_headers, request_cost
from gateway.redis.breaker import RedisBreaker
from tests.support.app import MOCK_ROUTING

TRUSTED = ("10.0.0.0/8", "fd00::/8")


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("203.0.113.7", None, "203.0.113.7"),
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),  # untrusted peer: XFF ignored
        ("10.1.2.3", "198.51.100.1", "198.51.100.1"),
        ("10.1.2.3", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # left entries are spoofable
        ("10.1.2.3", "198.51.100.1, 10.9.9.9", "198.51.100.1"),  # skip trusted hops from the right
        ("10.1.2.3", "garbage", "10.1.2.3"),
        ("10.1.2.3", "", "10.1.2.3"),
        ("fd00::1", "2001:db8::5", "2001:db8::5"),
        ("::ffff:203.0.113.7", None, "203.0.113.7"),
        ("10.1.2.3", "[2001:db8::9]:443", "2001:db8::9"),
    ],
)
def test_client_ip(peer: str, xff: str | None, expected: str) -> None:
    assert resolve_client_ip(peer, xff, TRUSTED) == expected


def test_without_trusted_proxies_the_socket_wins() -> None:
    assert resolve_client_ip("10.1.2.3", "198.51.100.1", ()) == "10.1.2.3"


def test_ipv6_clients_are_limited_by_their_64() -> None:
    assert (
        ip_identity("2001:db8:1:2:aaaa::1") == ip_identity("2001:db8:1:2:ffff::9") == "ip6:2001:db8:1:2::/64"
    )
    assert ip_identity("2001:db8:1:3::1") != ip_identity("2001:db8:1:2::1")
    assert ip_identity("203.0.113.7") == "ip:203.0.113.7"
    assert ip_identity("testclient") == "ip:unknown"


def test_request_cost() -> None:
    images = RatePolicy(rate=1, burst=20, cost="images")
    pixels = RatePolicy(rate=1, burst=20, cost="megapixels")
    assert request_cost(RatePolicy(rate=1, burst=20), ImageRequest(model="m", prompt="p", n=4)) == 1
    assert request_cost(images, ImageRequest(model="m", prompt="p", n=4)) == 4
    assert request_cost(pixels, ImageRequest(model="m", prompt="p", n=2)) == 2  # 1024² default
    assert request_cost(pixels, ImageRequest(model="m", prompt="p", n=1, width=2048, height=2048)) == 4
    assert (
        request_cost(pixels, ImageRequest(model="m", prompt="p", n=10, width=4096, height=4096)) == 20
    )  # capped


def test_megapixel_cost_follows_resolution_and_aspect_ratio() -> None:
    """Issue 14 item 14: the cost uses the size the adapters resolve (gateway/sizing.py), so a
    resolution "4K" request weighs ~16 MP, not the 1 MP of the width x height default."""
    pixels = RatePolicy(rate=1, burst=100, cost="megapixels")

    def cost(**fields: object) -> int:
        return request_cost(pixels, ImageRequest(model="m", prompt="p", **fields))  # type: ignore[arg-type]

    assert cost(resolution=Resolution.R4K) == 16
    assert cost(resolution=Resolution.R2K) == 4
    assert cost(aspect_ratio=(16, 9), resolution=Resolution.R4K) == 9  # 4096x2304
    assert cost(width=4096, aspect_ratio=(1, 1)) == 16  # one side + a ratio
    assert cost(width=2048) == 4  # one side alone is a square
    assert cost() == 1


def test_breaker_opens_after_k_failures_and_probes_once() -> None:
    now = [0.0]
    breaker = RedisBreaker(failures=3, open_seconds=2.0, clock=lambda: now[0])
    for _ in range(2):
        breaker.failure()
    assert breaker.allow() and breaker.state == "closed"
    breaker.failure()
    assert not breaker.allow() and breaker.state == "open"
    now[0] = 2.5
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one
    breaker.failure()
    assert not breaker.allow() and breaker.state == "open"
    now[0] = 5.0
    assert breaker.allow()
    breaker.success()
    assert breaker.allow() and breaker.allow() and breaker.state == "closed"


def test_headers_follow_the_ietf_draft() -> None:
    policy = RatePolicy(rate=60, period_seconds=60, burst=10)
    headers = dict(ratelimit_headers([Evaluated("ip", policy, 9, 1), Evaluated("account", policy, 3, 7)]))
    assert headers[b"ratelimit-policy"] == b'"ip";q=10;w=10, "account";q=10;w=10'
    assert headers[b"ratelimit"] == b'"ip";r=9;t=1, "account";r=3;t=7'
    assert ratelimit_headers([]) == []


def test_limits_config_is_validated_with_paths() -> None:
    good = (
        MOCK_ROUTING + "limits:\n  ip: {rate: 5, burst: 10}\n  account: {rate: 1, burst: 2, cost: images}\n"
    )
    config = parse_config(good)
    assert config.limits.ip is not None and config.limits.ip.emission_us == 200_000
    with pytest.raises(ConfigError) as caught:
        parse_config(MOCK_ROUTING + "limits:\n  ip: {rate: 0, burst: 10}\n")
    assert caught.value.path == "limits.ip.rate"
    with pytest.raises(ConfigError) as caught:
        parse_config(MOCK_ROUTING + "limits:\n  account: {rate: 1, burst: 2, cost: tokens}\n")
    assert caught.value.path == "limits.account.cost"
    with pytest.raises(ConfigError) as caught:
        parse_config(MOCK_ROUTING + "limits:\n  trusted_proxies: [not-an-ip]\n")
    assert "trusted_proxies" in str(caught.value)
    assert msgspec.convert({}, type(config.limits)).ip is None  # the default limits nothing
    with pytest.raises(ConfigError) as caught:
        parse_config(
            MOCK_ROUTING + "limits:\n  account: {rate: 1, burst: 2, models: {nope: {rate: 1, burst: 1}}}\n"
        )
    assert caught.value.path == "limits.account.models.nope"


def test_the_request_path_client_never_retries_and_bounds_the_pool_wait() -> None:
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster

    from gateway.config.limits import RedisClientConfig
    from gateway.redis.client import connect, is_cluster_url

    client = connect("redis://127.0.0.1:1/0", RedisClientConfig(timeout_ms=120, pool_size=8, pool_wait_ms=40))
    assert isinstance(client, aioredis.Redis)
    pool = client.connection_pool
    assert isinstance(pool, aioredis.BlockingConnectionPool)
    assert pool.max_connections == 8 and pool.timeout == 0.04
    kwargs = pool.connection_kwargs
    assert kwargs["retry"].get_retries() == 0
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.12
    assert is_cluster_url("redis+cluster://127.0.0.1:7000") and not is_cluster_url("redis://127.0.0.1:7000")
    cluster = connect("redis+cluster://127.0.0.1:7000")
    assert isinstance(cluster, RedisCluster) and cluster.retry.get_retries() == 0
