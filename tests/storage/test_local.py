"""The local storage backend: a link works, expires, and refuses forged or tampered signatures and
keys that try to leave the directory; retention is enforced on read and by the sweep."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.canonical import OutputFormat
from gateway.config import parse_config
from gateway.settings import Settings
from gateway.storage import KEY_PATTERN, LocalStorage
from tests.support.app import MOCK_ROUTING
from tests.support.images import distinct_png

PNG = distinct_png(3)


def storage_yaml(directory: Path, **extra: object) -> str:
    fields = "".join(f"  {k}: {v}\n" for k, v in extra.items())
    return f"storage:\n  backend: local\n{fields}  local: {{directory: {directory}, secret: test-secret-0123}}\n"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    app = create_app(Settings(), config=parse_config(MOCK_ROUTING + storage_yaml(tmp_path / "results")))
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


def local(client: AsyncTestClient) -> LocalStorage:  # type: ignore[type-arg]
    storage = client.app.state.services.storage
    assert isinstance(storage, LocalStorage)
    return storage


def path_and_query(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


async def test_link_serves_the_bytes_until_it_expires(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    storage = local(client)
    key = await storage.put(PNG, OutputFormat.PNG)
    assert KEY_PATTERN.match(key) and (storage.directory / key).read_bytes() == PNG
    url = storage.url(key, base_url="http://testserver.local")
    assert url.startswith("http://testserver.local/api/v1/files/")
    path, query = path_and_query(url)
    assert int(query["expires"]) - time.time() == pytest.approx(storage.url_ttl_seconds, abs=5)
    served = await client.get(path, params=query)
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["content-type"] == "image/png"
    # The same key with a signature made for a moment already past: refused as expired.
    past = int(time.time()) - 1
    expired = await client.get(path, params={"expires": str(past), "sig": storage.signature(key, past)})
    assert expired.status_code == 403 and expired.json()["error"]["code"] == "url_expired"


async def test_forged_and_tampered_links_are_refused(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    storage = local(client)
    key = await storage.put(PNG, OutputFormat.PNG)
    path, query = path_and_query(storage.url(key, base_url="http://t"))
    later = str(int(query["expires"]) + 3600)
    flipped = query["sig"][:-1] + ("A" if query["sig"][-1] != "A" else "B")
    other_key = await storage.put(PNG, OutputFormat.PNG)
    forged = LocalStorage(storage.directory, b"another-secret", url_ttl_seconds=60, retention_seconds=600)
    cases = [
        {**query, "expires": later},  # a longer life
        {**query, "sig": flipped},  # one character of the signature
        {"expires": query["expires"]},  # no signature
        {**query, "expires": "abc"},
        {"expires": query["expires"], "sig": forged.signature(key, int(query["expires"]))},  # wrong secret
    ]
    for params in cases:
        refused = await client.get(path, params=params)
        assert refused.status_code == 403, params
        assert refused.json()["error"]["code"] == "url_signature_invalid"
    # A valid signature moved to another key does not open it.
    moved = await client.get(f"/api/v1/files/{other_key}", params=query)
    assert moved.status_code == 403


@pytest.mark.parametrize(
    "key",
    ["..%2F..%2Fetc%2Fpasswd", "..%2Frouting.yaml", "%2E%2E", ".%2Fx.png", "abc.png", "A" * 32 + ".gif", "A" * 32 + ".png%00"],
)
async def test_keys_outside_the_storage_are_404(client: AsyncTestClient, tmp_path: Path, key: str) -> None:  # type: ignore[type-arg]
    storage = local(client)
    (tmp_path / "secret.txt").write_text("not yours")
    decoded = key.replace("%2F", "/").replace("%2E", ".").replace("%00", "\x00")
    expires = int(time.time()) + 60
    response = await client.get(f"/api/v1/files/{key}", params={"expires": str(expires), "sig": storage.signature(decoded, expires)})
    assert response.status_code == 404
    assert b"not yours" not in response.content


async def test_retention_is_enforced_on_read_and_by_the_sweep(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, b"k", url_ttl_seconds=60, retention_seconds=600)
    old, fresh = await storage.put(PNG, OutputFormat.PNG), await storage.put(PNG, OutputFormat.WEBP)
    stale = time.time() - 601
    os.utime(tmp_path / old, (stale, stale))
    expires = int(time.time()) + 60
    with pytest.raises(Exception, match="past retention"):
        storage.open_link(old, str(expires), storage.signature(old, expires))
    assert await storage.sweep() == 1
    assert not (tmp_path / old).exists() and (tmp_path / fresh).exists()


async def test_keys_are_unguessable_and_unique(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path, b"k", url_ttl_seconds=60, retention_seconds=600)
    keys = {await storage.put(b"x", OutputFormat.JPEG) for _ in range(50)}
    assert len(keys) == 50 and all(KEY_PATTERN.match(k) and k.endswith(".jpeg") for k in keys)


async def test_without_local_storage_the_route_is_404() -> None:
    async with AsyncTestClient(app=create_app(Settings(), config=parse_config(MOCK_ROUTING))) as client:
        response = await client.get("/api/v1/files/" + "A" * 32 + ".png", params={"expires": "1", "sig": "x"})
        assert response.status_code == 404
