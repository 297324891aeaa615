"""What a replica may do with a job whose runner stopped heartbeating (spec/jobs.md).

    no call made yet                              run it (nothing reached a provider)
    a call with a submitted task handle           resume: poll that task again (BFL), never submit
    a call that failed before any work was billed run it again (the policy would have retried)
    any other call (sent, outcome unknown)        re-run only on an `idempotent: true` provider,
                                                  else the job ends `failed` (`upstream_timeout`)

Pure: the call records in, a plan out (gateway/jobs/service.py acts on it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import FailureClass
from gateway.jobs.model import CallRecord
from gateway.runtime import Runtime

# Failures after which nothing was produced or billed upstream: running the call again is what the
# routing policy itself would do. Anything else (ambiguous, a 200 we could not use, a poll given up,
# content policy...) may have been billed.
_UNBILLED = frozenset(
    {
        FailureClass.CONNECT,
        FailureClass.TRANSIENT,
        FailureClass.RATE_LIMITED,
        FailureClass.CREDENTIAL,
        FailureClass.QUOTA,
        FailureClass.MODEL_UNAVAILABLE,
        FailureClass.CALLER_FAULT,
        FailureClass.CAPACITY,
        FailureClass.CIRCUIT_OPEN,
        FailureClass.DEADLINE,
    }
)


@dataclass(frozen=True, slots=True)
class Resume:
    """Run the job again; `handles`: shard index -> (provider, task handle) to poll, not submit."""

    handles: dict[int, tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Refuse:
    provider: str  # the provider whose call has an unknown outcome


def plan(calls: dict[int, CallRecord], idempotent: Callable[[str], bool]) -> Resume | Refuse:
    handles: dict[int, tuple[str, str]] = {}
    for shard, call in sorted(calls.items()):
        if call.state != "failed" and call.handle is not None:
            handles[shard] = (call.provider, call.handle)
        elif call.state == "failed" and call.failure in _UNBILLED:
            continue
        elif not idempotent(call.provider):
            return Refuse(call.provider)
    return Resume(handles)


def idempotent_in(runtime: Runtime, slug: str) -> Callable[[str], bool]:
    """Whether every deployment of `slug` on a provider is `idempotent: true` (may be re-sent)."""

    def idempotent(provider: str) -> bool:
        deployments = [d for d in runtime.deployments(slug) if d.provider == provider]
        return bool(deployments) and all(d.idempotent for d in deployments)

    return idempotent
