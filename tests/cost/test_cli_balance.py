"""`imagegate balance show|credit|debit ACCOUNT [USD]` against a real Redis (the commands in
docs/cost.md "Operator commands")."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.cli import main

ACCOUNT = "eip155:1:0xAbC0000000000000000000000000000000000001"


@pytest.fixture
def redis_env(redis_url: str, redis_client: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.delenv("IMAGEGATE_CONFIG", raising=False)


def test_credit_debit_show(redis_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["balance", "credit", ACCOUNT, "10.00"]) == 0
    assert main(["balance", "debit", ACCOUNT.lower(), "2.50"]) == 0  # EVM addresses: any case
    capsys.readouterr()
    assert main(["balance", "debit", ACCOUNT, "100"]) == 1
    assert "debit refused" in capsys.readouterr().err
    assert main(["balance", "show", ACCOUNT]) == 0
    out = capsys.readouterr().out
    assert "balance:   7.500000 USD (prepaid)" in out and "available: 7.500000 USD" in out


def test_show_reads_the_allowance_from_the_routing_file(
    redis_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "providers: {mock: {adapter: mock}}\nmodels: {m: {deployments: [{provider: mock, model: m}]}}\n"
        'budgets: {default: {allowance_usd: "5", period: day}}\n'
    )
    assert main(["balance", "show", "key:ci", "--config", str(routing)]) == 0
    assert "available: 5.000000 USD" in capsys.readouterr().out


@pytest.mark.parametrize("amount", ["-1", "abc", "0.0000001", "nan"])
def test_bad_amounts_are_refused(redis_env: None, amount: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["balance", "credit", ACCOUNT, amount]) == 2
    assert "imagegate balance: USD:" in capsys.readouterr().err


def test_without_redis_the_command_refuses(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["balance", "show", ACCOUNT]) == 2
    assert "REDIS_URL is not set" in capsys.readouterr().err
