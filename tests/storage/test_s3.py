"""The S3 backend against an S3-compatible server the test starts on loopback (moto's server mode):
upload, a presigned link fetched over plain HTTP, expiry, the lifecycle rule, and failed uploads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from gateway.canonical import OutputFormat
from gateway.config.storage import S3StorageConfig, StorageConfig
from gateway.storage import KEY_PATTERN, StorageError, open_storage, store_image
from gateway.storage.s3 import S3Storage
from tests.support.images import distinct_png
from tests.support.redis_server import free_port

PNG = distinct_png(5)
CREDENTIALS = {"AWS_KEY": "testing-access", "AWS_SECRET": "testing-secret"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(endpoint: str) -> str:
    name = f"results-{time.monotonic_ns()}"
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["AWS_KEY"], aws_secret_access_key=CREDENTIALS["AWS_SECRET"],
    )  # fmt: skip
    client.create_bucket(Bucket=name)
    return name


def config(endpoint: str, bucket: str, **extra: object) -> StorageConfig:
    s3 = S3StorageConfig(
        bucket=bucket, endpoint_url=endpoint, access_key_id="${AWS_KEY}", secret_access_key="${AWS_SECRET}",
        addressing_style="path", **extra,  # type: ignore[arg-type]
    )  # fmt: skip
    return StorageConfig(backend="s3", url_ttl_seconds=60, retention_seconds=86400, upload_timeout_seconds=5, s3=s3)


async def test_upload_and_presigned_link(endpoint: str, bucket: str) -> None:
    storage = await open_storage(config(endpoint, bucket, apply_lifecycle=True), environ=CREDENTIALS)
    assert isinstance(storage, S3Storage)
    key = await store_image(storage, PNG, OutputFormat.PNG)
    assert KEY_PATTERN.match(key)
    url = storage.url(key, base_url="http://ignored")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["60"] and "X-Amz-Signature" in query
    assert "testing-secret" not in url
    fetched = httpx.get(url)
    assert fetched.status_code == 200 and fetched.content == PNG
    assert fetched.headers["content-type"] == "image/png"
    # Expiry and signature checks are the object store's (moto's server mode does not enforce them):
    # the link carries a SigV4 signature over an expiry of exactly `url_ttl_seconds`.
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-SignedHeaders"] == ["host"]
    rules = storage._client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules[0]["Expiration"]["Days"] == 1 and rules[0]["Filter"]["Prefix"] == "imagegate/"
    await storage.aclose()


async def test_upload_to_a_missing_bucket_is_a_storage_error(endpoint: str) -> None:
    storage = await open_storage(config(endpoint, "no-such-bucket"), environ=CREDENTIALS)
    assert storage is not None
    with pytest.raises(StorageError, match="NoSuchBucket") as failed:
        await store_image(storage, PNG, OutputFormat.PNG)
    assert "testing" not in str(failed.value)
    await storage.aclose()


async def test_unreachable_endpoint_is_a_storage_error_within_the_timeout() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    storage = await open_storage(config(dead, "results"), environ=CREDENTIALS)
    assert storage is not None
    with pytest.raises(StorageError):
        await storage.put(PNG, OutputFormat.PNG)
    await storage.aclose()


async def test_unset_credential_variable_names_the_yaml_path(endpoint: str) -> None:
    from gateway.config import ConfigError

    with pytest.raises(ConfigError, match=r"storage\.s3\.access_key_id.*AWS_KEY"):
        await open_storage(config(endpoint, "b"), environ={})
