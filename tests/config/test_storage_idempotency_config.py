"""The `storage:` and `idempotency:` sections: defaults, and errors that name the YAML path."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, parse_config
from tests.support.app import MOCK_ROUTING


def test_defaults() -> None:
    config = parse_config(MOCK_ROUTING)
    assert config.storage is None
    assert (config.idempotency.ttl_seconds, config.idempotency.in_flight_seconds) == (86400, None)
    assert config.idempotency.in_flight_ms(120.0) == 180_000
    local = parse_config(MOCK_ROUTING + "storage: {local: {directory: /tmp/x}}\n").storage
    assert local is not None and (local.backend, local.url_ttl_seconds, local.retention_seconds) == ("local", 3600, 86400)


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ("storage: {backend: local, local: {directory: ''}}", "storage.local.directory"),
        ("storage: {backend: s3}", "storage.s3"),
        ("storage: {backend: gcs, local: {directory: /x}}", "storage.backend"),
        ("storage: {url_ttl_seconds: 0, local: {directory: /x}}", "storage.url_ttl_seconds"),
        ("storage: {url_ttl_seconds: 7200, retention_seconds: 3600, local: {directory: /x}}", "storage.url_ttl_seconds"),
        ("storage: {backend: s3, url_ttl_seconds: 700000, retention_seconds: 900000, s3: {bucket: abc}}", "storage.url_ttl_seconds"),
        ("storage: {backend: s3, s3: {bucket: Not_A_Bucket}}", "storage.s3.bucket"),
        ("storage: {backend: s3, s3: {bucket: abc, access_key_id: x}}", "storage.s3"),
        ("storage: {local: {directory: /x, secrte: y}}", "storage.local.secrte"),
        ("storage: {local: {directory: /x, public_base_url: 'ftp://x'}}", "storage.local.public_base_url"),
        ("idempotency: {ttl_seconds: 0}", "idempotency.ttl_seconds"),
        ("idempotency: {in_flight_seconds: 60}", "idempotency.in_flight_seconds"),  # under the 120 s deadline
        ("idempotency: {max_response_bytes: 10}", "idempotency.max_response_bytes"),
    ],
)
def test_errors_name_the_path(section: str, path: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(MOCK_ROUTING + section + "\n")
    assert error.value.path == path, str(error.value)


def test_a_long_model_deadline_needs_no_idempotency_setting() -> None:
    long = MOCK_ROUTING.replace("  mock-image:\n", "  mock-image:\n    deadline_seconds: 3600\n", 1)
    config = parse_config(long)
    assert config.models["mock-image"].deadline_seconds == 3600
    assert config.idempotency.in_flight_ms(3600) == 3_660_000
    with pytest.raises(ConfigError) as error:
        parse_config(long + "idempotency: {in_flight_seconds: 900}\n")
    assert error.value.path == "idempotency.in_flight_seconds" and "3600" in error.value.message


def test_check_config_shows_the_sections_without_secrets() -> None:
    from gateway.config.describe import describe_sections

    s3 = "storage: {backend: s3, s3: {bucket: results, access_key_id: AKIAEXAMPLE12, secret_access_key: hunter2-secret}}\n"
    local = "storage: {local: {directory: /x, secret: local-hmac-secret}}\n"
    for section in (s3, local):
        text = "\n".join(describe_sections(parse_config(MOCK_ROUTING + section)))
        assert "idempotency:\n  ttl_seconds: 86400" in text and "storage:\n  backend:" in text
        assert "AKIAEXAMPLE12" not in text and "hunter2" not in text and "local-hmac-secret" not in text
    assert "storage: (none" in "\n".join(describe_sections(parse_config(MOCK_ROUTING)))


async def test_empty_storage_section_is_local_in_a_private_temp_directory() -> None:
    import os
    import stat

    from gateway.storage import LocalStorage, open_storage

    config = parse_config(MOCK_ROUTING + "storage: {}\n").storage
    storage = await open_storage(config)
    assert isinstance(storage, LocalStorage) and storage.directory.name == f"imagegate-results-{os.getuid()}"
    assert stat.S_IMODE(storage.directory.stat().st_mode) & 0o077 == 0  # private to this user
