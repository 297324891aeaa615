"""base_url rules (issue 14 item 11): check-config refuses an http or private-address BFL base_url,
naming the key, instead of a 502 on every request; `allow_private_base_url: true` is the one
documented way to point an adapter at a relay or a local test server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from adapters.base import AdapterSettingsError
from adapters.flux import FluxAdapter
from adapters.openai_images import OpenAIAdapter
from gateway import cli
from gateway.canonical import ImageRequest
from tests.fakes.base import SECRET, ctx
from tests.fakes.bfl import FakeBFL

RELAY = "http://127.0.0.1:8765"


def check(tmp_path: Path, provider: str) -> tuple[int, str]:
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        f"providers:\n  bfl: {provider}\nmodels:\n  m: {{deployments: [{{provider: bfl, model: flux-pro-1.1}}]}}\n"
    )
    code = cli.main(["check-config", str(routing)])
    return code, str(routing)


@pytest.mark.parametrize(
    ("provider", "path", "reason"),
    [
        (
            "{adapter: flux, base_url: 'http://api.bfl.ai', settings: {api_key: k}}",
            "providers.bfl.base_url",
            "scheme",
        ),
        (
            "{adapter: flux, settings: {api_key: k, base_url: 'http://api.bfl.ai'}}",
            "providers.bfl.settings.base_url",
            "scheme",
        ),
        (
            "{adapter: flux, base_url: 'https://127.0.0.1:8443', settings: {api_key: k}}",
            "providers.bfl.base_url",
            "",
        ),
        (
            "{adapter: flux, base_url: 'https://10.1.2.3', settings: {api_key: k, api_hosts: ['10.1.2.3']}}",
            "providers.bfl.base_url",
            "private address",
        ),
        (
            "{adapter: openai, base_url: 'http://127.0.0.1:8080/v1', "
            "settings: {api_key: k, allow_private_base_url: false}}",
            "providers.bfl.base_url",
            "scheme",
        ),
    ],
)
def test_check_config_refuses_http_or_private_base_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], provider: str, path: str, reason: str
) -> None:
    code, routing = check(tmp_path, provider)
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: {routing}: {path}:"), err
    assert reason in err and "allow_private_base_url" in err


def test_check_config_accepts_an_explicitly_allowed_relay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = check(
        tmp_path,
        f"{{adapter: flux, base_url: '{RELAY}', settings: {{api_key: k, allow_private_base_url: true}}}}",
    )
    assert code == 0, capsys.readouterr().err


def test_refused_when_the_adapter_is_built() -> None:
    with pytest.raises(AdapterSettingsError) as caught:
        FluxAdapter(provider="bfl", settings={"base_url": RELAY}, client=httpx.AsyncClient())
    assert caught.value.path == "base_url"


async def test_a_local_bfl_server_works_end_to_end_when_allowed() -> None:
    """Submit, poll and result download all on the relay's own loopback origin, over http."""
    fake = FakeBFL(relay=RELAY)
    settings = {
        "api_key": SECRET,
        "base_url": RELAY,
        "allow_private_base_url": True,
        "poll_interval_seconds": 0.0,
    }
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = FluxAdapter(provider="bfl", settings=settings, client=client)
        result = await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("flux-pro-1.1"))
    assert result.images and fake.calls == 1
    assert [str(r.url).startswith(RELAY) for r in fake.requests] == [True] * len(fake.requests)
    assert len(fake.requests) == 3  # submit, poll, download
    # The key went to the relay (the operator's choice), never to the result download.
    assert [("x-key" in r.headers) for r in fake.requests] == [True, True, False]


async def test_openai_relay_with_basic_auth_in_base_url_is_still_accepted() -> None:
    OpenAIAdapter(
        provider="relay",
        settings={"base_url": "http://relay:pw@127.0.0.1:9000/v1"},
        client=httpx.AsyncClient(),
    )
