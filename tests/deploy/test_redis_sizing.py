"""docs/operations.md sizes Redis at about 300 bytes per nonce key: check it on a real Redis, with keys
of a representative shape written through the gateway's own store (SET NX GET PX)."""

from __future__ import annotations

import hashlib
import re

import redis

from gateway.state import RedisStore
from tests.deploy.support import ROOT

KEYS = 5000


def documented_bytes_per_key() -> int:
    match = re.search(
        r"One such key costs about \*\*(\d+) bytes\*\*", (ROOT / "docs/operations.md").read_text()
    )
    assert match, "operations.md states the per-key figure"
    return int(match.group(1))


async def test_nonce_keys_fit_the_documented_size(redis_client: redis.Redis, redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    try:
        before = int(redis_client.info("memory")["used_memory"])
        for i in range(KEYS):
            account = "eip155:1:0x" + hashlib.sha1(str(i).encode()).hexdigest()  # 42-char address
            nonce = hashlib.md5(str(i).encode()).hexdigest()[:17]  # SIWE-style 17-char nonce
            digest = hashlib.sha256(f"message {i}".encode()).digest()
            assert await store.set_nx_get(f"ig:nonce:{{{account}}}:{nonce}", digest, ttl_ms=3_660_000) is None
        after = int(redis_client.info("memory")["used_memory"])
    finally:
        await store.aclose()
    assert redis_client.dbsize() == KEYS
    per_key = (after - before) / KEYS
    assert 100 < per_key <= documented_bytes_per_key(), per_key
