"""The routing file of the edit API tests: the mock that edits, doubles that cannot (no edit at
all, one input only, no mask), and models that chain them."""

from __future__ import annotations

from gateway.config import RoutingConfig, parse_config

EDIT_ROUTING = """
providers:
  mock:
    adapter: mock
    settings: {max_n: 4}
  noedit:
    adapter: mock
    settings: {edit: false}
  single:
    adapter: mock
    settings: {max_input_images: 1}
  nomask:
    adapter: mock
    settings: {edit_mask: false}
models:
  mock-image:
    aliases: [mock]
    deployments:
      - {provider: mock, model: mock-v1}
  fallback-edit:
    deployments:
      - {provider: noedit, model: mock-plain}
      - {provider: single, model: mock-single}
      - {provider: mock, model: mock-v1}
  plain-image:
    deployments:
      - {provider: noedit, model: mock-plain}
  single-image:
    deployments:
      - {provider: single, model: mock-single}
  nomask-image:
    deployments:
      - {provider: nomask, model: mock-nomask}
  nomask-lenient:
    edit: {mask_required_on_fallback: false}
    deployments:
      - {provider: nomask, model: mock-nomask}
retry: {backoff_base_seconds: 0.01, backoff_cap_seconds: 0.05}
auth:
  enabled: false
"""


def edit_config() -> RoutingConfig:
    return parse_config(EDIT_ROUTING)
