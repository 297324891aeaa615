"""Operator API keys (spec/openai-compat.md, "Authentication on every route"): valid, wrong,
expired, revoked by reload, limited to a model, the default account, the credential order, the
`keys create` output and check-config's redaction."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.auth.api_keys import digest
from gateway.cli import main
from gateway.client import EvmSigner, sign_header
from gateway.config import parse_config
from gateway.config.describe import describe_sections
from gateway.settings import Settings

URL = "/api/v1/image/generate"
BODY = {"model": "img", "prompt": "a lighthouse", "width": 64, "height": 64}
SECRET, OTHER, OLD = "igk_valid-secret", "igk_second-secret", "igk_expired-secret"
ROUTING = f"""
providers:
  mock: {{adapter: mock}}
models:
  img: {{deployments: [{{provider: mock, model: v1}}]}}
  other: {{deployments: [{{provider: mock, model: v1}}]}}
auth:
  domains: [gateway.example]
  origins: ["https://gateway.example"]
  api_keys:
    - {{name: app, sha256: {digest(SECRET)}}}
    - {{name: narrow, sha256: {digest(OTHER)}, account: team-a, models: [other]}}
    - {{name: old, sha256: {digest(OLD)}, expires: "2020-01-01T00:00:00Z"}}
limits:
  account: {{rate: 1, period_seconds: 3600, burst: 2}}
"""


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def routing(tmp_path: Path) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(ROUTING)
    return path


async def test_keys_valid_wrong_expired_and_model_limited(routing: Path) -> None:
    async with AsyncTestClient(app=create_app(Settings(config_path=str(routing)))) as client:
        ok = await client.post(URL, json=BODY, headers=bearer(SECRET))
        assert ok.status_code == 200, ok.text
        for secret in ("igk_wrong", OLD):
            bad = await client.post(URL, json=BODY, headers=bearer(secret))
            assert bad.status_code == 401 and bad.json()["error"]["code"] == "auth_invalid_key"
            assert secret not in bad.text
        denied = await client.post(URL, json=BODY, headers=bearer(OTHER))
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "model_not_allowed"
        allowed = await client.post(URL, json={**BODY, "model": "other"}, headers=bearer(OTHER))
        assert allowed.status_code == 200, allowed.text
        basic = await client.post(URL, json=BODY, headers={"Authorization": "Basic eDp5"})
        assert basic.status_code == 401 and basic.json()["error"]["code"] == "auth_invalid_key"
        missing = await client.post(URL, json=BODY)
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "auth_missing"


async def test_a_key_account_feeds_the_account_limit(routing: Path) -> None:
    """`app` has no account: it is `key:app`, limited on its own; `narrow` (team-a) is not affected."""
    async with AsyncTestClient(app=create_app(Settings(config_path=str(routing)))) as client:
        codes = [(await client.post(URL, json=BODY, headers=bearer(SECRET))).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        other = await client.post(URL, json={**BODY, "model": "other"}, headers=bearer(OTHER))
        assert other.status_code == 200


async def test_sign_in_with_x_wins_over_the_bearer(routing: Path) -> None:
    """The AiMo SDK sends `Bearer siwx` beside the SIWX header: the header decides (here: malformed)."""
    async with AsyncTestClient(app=create_app(Settings(config_path=str(routing)))) as client:
        response = await client.post(URL, json=BODY, headers={**bearer(SECRET), "Sign-In-With-X": "garbage"})
        assert response.status_code == 401 and response.json()["error"]["code"] == "auth_malformed"


async def test_reload_revokes_a_removed_key(routing: Path) -> None:
    app = create_app(Settings(config_path=str(routing)))
    async with AsyncTestClient(app=app) as client:
        assert (await client.post(URL, json=BODY, headers=bearer(SECRET))).status_code == 200
        routing.write_text(ROUTING.replace(f"    - {{name: app, sha256: {digest(SECRET)}}}\n", ""))
        assert await app.state.reloader.reload() is True
        revoked = await client.post(URL, json=BODY, headers=bearer(SECRET))
        assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "auth_invalid_key"


def test_check_config_shows_key_names_only() -> None:
    text = "\n".join(describe_sections(parse_config(ROUTING)))
    assert "api_keys: app, narrow, old" in text
    for secret in (SECRET, OTHER, OLD):
        assert digest(secret) not in text and secret not in text


def test_duplicate_key_names_are_refused() -> None:
    doubled = ROUTING.replace("name: narrow", "name: app")
    with pytest.raises(Exception, match="unique"):
        parse_config(doubled)


def test_keys_create_prints_the_secret_first_then_the_entry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "webui"]) == 0
    lines = capsys.readouterr().out.splitlines()
    secret = lines[0]
    assert secret.startswith("igk_") and " " not in secret
    entry = "\n".join(lines[1:])
    assert "name: webui" in entry and f"sha256: {digest(secret)}" in entry and secret not in entry


@pytest.mark.parametrize(("replay", "status", "code"), [("session", 200, None), ("single_use", 401, "auth_invalid_key")])
async def test_a_bearer_siwx_token_only_in_session_mode(
    tmp_path: Path, replay: str, status: int, code: str | None
) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(ROUTING.replace("  api_keys:\n", f"  replay: {replay}\n  api_keys:\n"))
    token = sign_header("https://gateway.example" + URL, EvmSigner.throwaway())
    async with AsyncTestClient(app=create_app(Settings(config_path=str(path)))) as client:
        response = await client.post(URL, json=BODY, headers=bearer(token))
        assert response.status_code == status, response.text
        if code is not None:
            assert response.json()["error"]["code"] == code


async def test_with_auth_disabled_an_authorization_header_stays_anonymous(tmp_path: Path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(ROUTING.replace("auth:\n", "auth:\n  enabled: false\n"))
    async with AsyncTestClient(app=create_app(Settings(config_path=str(path)))) as client:
        for header in ("Bearer igk_wrong", "Basic eDp5"):
            response = await client.post(URL, json=BODY, headers={"Authorization": header})
            assert response.status_code == 200, response.text


async def test_a_key_limit_is_its_own_bucket_beside_the_account(tmp_path: Path) -> None:
    """`auth.api_keys[].limits`: `capped` (account team-a, shared with `narrow`) may make one
    request an hour on its own; `narrow` still has the account's second unit."""
    path = tmp_path / "routing.yaml"
    capped = "igk_capped-secret"
    path.write_text(
        ROUTING.replace(
            "  api_keys:\n",
            f"  api_keys:\n    - {{name: capped, sha256: {digest(capped)}, account: team-a,"
            " limits: {rate: 1, period_seconds: 3600, burst: 1}}\n",
        )
    )
    async with AsyncTestClient(app=create_app(Settings(config_path=str(path)))) as client:
        first = await client.post(URL, json=BODY, headers=bearer(capped))
        assert first.status_code == 200, first.text
        assert '"key";q=1' in first.headers["ratelimit-policy"]
        second = await client.post(URL, json=BODY, headers=bearer(capped))
        assert second.status_code == 429 and second.json()["error"]["code"] == "rate_limited"
        assert "key rate limit" in second.json()["error"]["message"]
        other = await client.post(URL, json={**BODY, "model": "other"}, headers=bearer(OTHER))
        assert other.status_code == 200, other.text


def test_a_key_limit_naming_an_unknown_model_is_refused() -> None:
    bad = ROUTING.replace(
        "account: team-a, models: [other]}", "account: team-a, models: [other], limits: {rate: 1, burst: 1, models: {nope: {rate: 1, burst: 1}}}}"
    )
    with pytest.raises(Exception, match=r"auth.api_keys\[1\].limits.models.nope"):
        parse_config(bad)
