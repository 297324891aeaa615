"""The `storage:` section of the routing YAML: where `output_type: url` images (and job images) live.

    storage:
      backend: local                    # local (served by the gateway) | s3 (any S3-compatible store)
      url_ttl_seconds: 3600             # how long a returned URL works (default 1 h)
      retention_seconds: 86400          # how long an object is kept (default 24 h)
      local:
        directory: /var/lib/imagegate/results
        secret: ${IMAGEGATE_STORAGE_SECRET}   # HMAC key of the signed URLs; unset: one per process
        public_base_url: https://images.example.com   # optional; default: the request's own origin
      s3:
        bucket: imagegate-results
        prefix: results/
        endpoint_url: http://127.0.0.1:9000   # R2, MinIO...; absent: AWS
        region: us-east-1
        access_key_id: ${S3_ACCESS_KEY_ID}     # absent: the AWS default credential chain
        secret_access_key: ${S3_SECRET_ACCESS_KEY}
        addressing_style: path          # auto | path | virtual
        apply_lifecycle: false          # true: install an expiration rule for `prefix` at startup

No `storage:` section: no result storage, and `output_type: url` is refused with 400. `storage: {}`
is the local backend in `<temp dir>/imagegate-results-<uid>` (mode 0700) with a per-process secret. `${VAR}` in a
secret is resolved when the storage is opened (gateway/storage/__init__.py), never shown in errors.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Seconds = Annotated[int, msgspec.Meta(ge=1, le=10 * 365 * 86400)]
PRESIGN_MAX_SECONDS = 7 * 86400  # SigV4 presigned URLs cannot live longer


class LocalStorageConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    directory: Annotated[str, msgspec.Meta(min_length=1)] | None = None  # None: <temp dir>/imagegate-results-<uid>
    secret: str | None = None  # `${VAR}` or literal; None: generated per process (one replica only)
    public_base_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s?#]+$")] | None = None


class S3StorageConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    bucket: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    prefix: Annotated[str, msgspec.Meta(max_length=512, pattern=r"^[A-Za-z0-9!_.*'()/-]*$")] = "imagegate/"
    endpoint_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s?#]+$")] | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    apply_lifecycle: bool = False


class StorageConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    backend: Literal["local", "s3"] = "local"
    url_ttl_seconds: Seconds = 3600
    retention_seconds: Seconds = 86400
    upload_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=600)] = 30.0
    local: LocalStorageConfig | None = None
    s3: S3StorageConfig | None = None

    def problems(self) -> list[tuple[str, str]]:
        """(YAML path, message) for what one field alone cannot say."""
        found: list[tuple[str, str]] = []
        if self.backend == "s3" and self.s3 is None:
            found.append(("storage.s3", "backend 's3' needs an `s3:` section with `bucket`"))
        if self.backend == "s3" and self.url_ttl_seconds > PRESIGN_MAX_SECONDS:
            found.append(("storage.url_ttl_seconds", f"presigned S3 URLs live at most {PRESIGN_MAX_SECONDS} s"))
        if self.url_ttl_seconds > self.retention_seconds:
            found.append(("storage.url_ttl_seconds", "longer than retention_seconds: the URL would outlive the object"))
        if self.s3 is not None and (self.s3.access_key_id is None) != (self.s3.secret_access_key is None):
            found.append(("storage.s3", "set both access_key_id and secret_access_key, or neither"))
        return found
