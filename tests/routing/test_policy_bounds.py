"""Nonsense numbers in the retry / circuit_breaker / timeouts sections fail at load, naming the key."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, parse_config

BASE = """
providers:
  mock: {adapter: mock}
models:
  m: {deployments: [{provider: mock, model: x}]}
"""


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ("retry: {attempts: 0}", "retry.attempts"),
        ("retry: {backoff_base_seconds: -1}", "retry.backoff_base_seconds"),
        ("retry: {backoff_cap_seconds: -1}", "retry.backoff_cap_seconds"),
        ("retry: {retry_after_cap_seconds: -1}", "retry.retry_after_cap_seconds"),
        ("retry: {budget_ratio: -0.1}", "retry.budget_ratio"),
        ("retry: {budget_min_retries: -1}", "retry.budget_min_retries"),
        ("retry: {budget_window_seconds: 0}", "retry.budget_window_seconds"),
        ("circuit_breaker: {consecutive_failures: 0}", "circuit_breaker.consecutive_failures"),
        ("circuit_breaker: {failure_rate: 1.5}", "circuit_breaker.failure_rate"),
        ("circuit_breaker: {failure_rate: 0}", "circuit_breaker.failure_rate"),
        ("circuit_breaker: {min_requests: 0}", "circuit_breaker.min_requests"),
        ("circuit_breaker: {window_seconds: 0}", "circuit_breaker.window_seconds"),
        ("circuit_breaker: {open_seconds: -1}", "circuit_breaker.open_seconds"),
        ("circuit_breaker: {half_open_probes: 0}", "circuit_breaker.half_open_probes"),
    ],
)
def test_out_of_range_policy_value_names_its_path(section: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + section + "\n", source="routing.yaml")
    assert path in str(info.value)


@pytest.mark.parametrize(
    "section",
    [
        "retry: {attempts: 1, budget_ratio: 0, budget_min_retries: 0, backoff_base_seconds: 0}",
        "circuit_breaker: {consecutive_failures: 1, failure_rate: 1.0, min_requests: 1, half_open_probes: 1}",
    ],
)
def test_boundary_policy_values_load(section: str) -> None:
    parse_config(BASE + section + "\n", source="routing.yaml")


@pytest.mark.parametrize("key", ["max_body_bytes", "max_prompt_chars", "max_steps"])
def test_server_limits_must_be_positive(key: str) -> None:
    for value in (0, -5):
        with pytest.raises(ConfigError) as info:
            parse_config(BASE + f"server: {{{key}: {value}}}\n", source="routing.yaml")
        assert f"server.{key}" in str(info.value)
