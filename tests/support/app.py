"""Build the app for in-process API tests."""

from __future__ import annotations

from gateway.config import RoutingConfig, parse_config

MOCK_ROUTING = """
providers:
  mock:
    adapter: mock
    settings: {max_n: 4}
  broken:
    adapter: mock
    settings: {failure_rate: 1.0, failure_class: transient}
models:
  mock-image:
    aliases: [mock]
    deployments:
      - {provider: mock, model: mock-v1}
  flaky-image:
    deployments:
      - {provider: broken, model: mock-broken}
      - {provider: mock, model: mock-v1}
  dead-image:
    deployments:
      - {provider: broken, model: mock-broken}
retry: {backoff_base_seconds: 0.01, backoff_cap_seconds: 0.05}
auth:
  enabled: false
"""


def mock_config(text: str = MOCK_ROUTING) -> RoutingConfig:
    return parse_config(text)
