"""The S3-compatible backend (AWS S3, Cloudflare R2, MinIO, ...) through boto3, with presigned GETs.

boto3 is synchronous: each upload runs in a worker thread (`asyncio.to_thread`) under
`storage.upload_timeout_seconds`, with botocore's own retries off (the caller retries once, and a
hung endpoint must not hold a request for botocore's default minute). Presigning is a local
computation (no I/O). Retention is the bucket's job: an S3 lifecycle rule expiring `prefix` after
`ceil(retention_seconds / 1 day)` days, which `apply_lifecycle: true` installs at startup (S3
lifecycle rules count whole days); otherwise the operator configures one.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from gateway.canonical import OutputFormat
from gateway.config.storage import S3StorageConfig
from gateway.storage.base import StorageError, media_type_of, new_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3Storage:
    kind = "s3"

    def __init__(
        self,
        config: S3StorageConfig,
        *,
        url_ttl_seconds: int,
        retention_seconds: int,
        timeout_seconds: float,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        self.config = config
        self.url_ttl_seconds = url_ttl_seconds
        self.retention_seconds = retention_seconds
        self._timeout = timeout_seconds
        boto = BotoConfig(
            region_name=config.region,
            signature_version="s3v4",
            s3={"addressing_style": config.addressing_style},
            retries={"max_attempts": 1, "mode": "standard"},
            connect_timeout=min(timeout_seconds, 10.0),
            read_timeout=timeout_seconds,
        )
        self._client: S3Client = boto3.session.Session().client(
            "s3",
            endpoint_url=config.endpoint_url,
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=boto,
        )

    async def put(self, data: bytes, fmt: OutputFormat) -> str:
        key = new_key(fmt)
        try:
            async with asyncio.timeout(self._timeout):
                await asyncio.to_thread(self._put, self.config.prefix + key, data, fmt.media_type)
        except (BotoCoreError, ClientError, TimeoutError, OSError) as exc:
            raise StorageError(f"s3 upload failed: {_reason(exc)}") from exc
        return key

    def url(self, key: str, *, base_url: str) -> str:
        try:
            return self._client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.config.bucket,
                    "Key": self.config.prefix + key,
                    "ResponseContentType": media_type_of(key),
                },
                ExpiresIn=self.url_ttl_seconds,
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"s3 presign failed: {_reason(exc)}") from exc

    async def sweep(self) -> int:
        return 0  # the bucket's lifecycle rule expires objects

    async def apply_lifecycle(self) -> None:
        """Install (replace) the bucket's lifecycle configuration with one rule expiring `prefix`."""
        days = max(1, math.ceil(self.retention_seconds / 86400))
        rule = {
            "ID": "imagegate-retention",
            "Status": "Enabled",
            "Filter": {"Prefix": self.config.prefix},
            "Expiration": {"Days": days},
        }
        try:
            await asyncio.to_thread(
                self._client.put_bucket_lifecycle_configuration,
                Bucket=self.config.bucket,
                LifecycleConfiguration={"Rules": [rule]},  # type: ignore[list-item]
            )
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"s3 lifecycle rule not applied: {_reason(exc)}") from exc

    async def aclose(self) -> None:
        self._client.close()

    def _put(self, key: str, data: bytes, media_type: str) -> None:
        self._client.put_object(Bucket=self.config.bucket, Key=key, Body=data, ContentType=media_type)


def _reason(exc: BaseException) -> str:
    """What went wrong, without the URL or credentials botocore may put into its message."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')} (HTTP {exc.response.get('ResponseMetadata', {}).get('HTTPStatusCode', '?')})"
    return type(exc).__name__
