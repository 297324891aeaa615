"""The one boundary between adapters and the network, in four parts:

    http.py        one HTTP exchange (JSON or multipart), SSE streams, transport-error mapping,
                   status classes, Retry-After, the deadline
    downloads.py   result downloads: SSRF policy, host allow-list, DNS check, capped retrying GET
    redaction.py   what of a provider body may be shown: base64 elision, URL and key redaction,
                   the bounded `scrub` of `provider_metadata.raw`
    images.py      image bytes: magic-byte checks and the one base64 decoder

Adapters use `from gateway import upstream` and the names below.
"""

from gateway.upstream.downloads import (
    DOWNLOAD_RETRY_STATUSES,
    DOWNLOAD_TRANSPORT,
    DownloadPolicy,
    check_url,
    download,
    download_retryable,
    host_allowed,
)
from gateway.upstream.http import (
    CONNECT_TIMEOUT,
    DETAIL_MAX_CHARS,
    POLL_GARBLED,
    RETRY_AFTER_CAP,
    decode_as,
    decode_json,
    decode_poll_json,
    open_stream,
    parse_error_body,
    provider_detail,
    remaining_or_deadline,
    retry_after,
    retry_hint,
    send,
    status_failure,
    transport_error,
)
from gateway.upstream.images import base64_image, decode_base64, require_image
from gateway.upstream.redaction import (
    BLOB_KEYS,
    ELIDE_MIN_CHARS,
    elide_base64,
    raw_view,
    redact,
    redact_url,
    scrub,
)

__all__ = [
    "BLOB_KEYS",
    "CONNECT_TIMEOUT",
    "DETAIL_MAX_CHARS",
    "DOWNLOAD_RETRY_STATUSES",
    "DOWNLOAD_TRANSPORT",
    "ELIDE_MIN_CHARS",
    "POLL_GARBLED",
    "RETRY_AFTER_CAP",
    "DownloadPolicy",
    "base64_image",
    "check_url",
    "decode_as",
    "decode_base64",
    "decode_json",
    "decode_poll_json",
    "download",
    "download_retryable",
    "elide_base64",
    "host_allowed",
    "open_stream",
    "parse_error_body",
    "provider_detail",
    "raw_view",
    "redact",
    "redact_url",
    "remaining_or_deadline",
    "require_image",
    "retry_after",
    "retry_hint",
    "scrub",
    "send",
    "status_failure",
    "transport_error",
]
