"""The executor names a failure by the deployment's provider, whatever name the adapter used."""

from __future__ import annotations

from gateway.errors import FailureClass
from tests.routing.helpers import FakeAdapter, router_for, run, runtime_with

YAML = """
providers:
  azure-east: {adapter: mock}
  backup: {adapter: mock}
models:
  m:
    deployments: [{provider: azure-east, model: a}, {provider: backup, model: b}]
retry: {attempts: 1}
auth: {enabled: false}
"""


async def test_adapter_errors_carry_the_deployment_provider() -> None:
    # Adapters raise errors named after their kind ("openai"), as classify_error does.
    first = FakeAdapter("openai", [FailureClass.CREDENTIAL])
    second = FakeAdapter("openai", [FailureClass.TRANSIENT])
    runtime = runtime_with(YAML, {"azure-east": first, "backup": second})
    (outcome,) = await run(runtime, router_for(runtime))
    assert [f.provider for f in outcome.failures] == ["azure-east", "backup"]
    assert outcome.error is not None and outcome.error.provider == "backup"
