"""Failures only an operator can fix, logged for the operator (spec/routing-policy.md: "metric + log
for the operator"): the provider refused our key (401 / 403) or our credits or quota are spent (402,
`insufficient_quota`).

A dead key fails every request, so each (deployment, failure class) is logged at most once per
`interval` (60 s by default), with how many more happened since the last line. The line carries
the provider's own explanation as sanitised by `upstream.provider_detail` (key shapes redacted,
control characters escaped, truncated) and, to be sure, with this provider's configured secret
values removed. The metric (`imagegate_upstream_attempts_total{outcome=...}`) counts every one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from gateway import upstream
from gateway.config import resolve_provider_settings
from gateway.errors import FailureClass, ProviderError
from gateway.runtime import Deployment

log = logging.getLogger("imagegate.routing")
Clock = Callable[[], float]
DEFAULT_INTERVAL_SECONDS = 60.0
_ADVICE = {
    FailureClass.CREDENTIAL: "the provider refused our credentials; check this provider's key",
    FailureClass.QUOTA: "the provider says our credits or quota are spent; top up or raise the limit",
}
_SECRET_NAMES = ("key", "secret", "token", "password", "authorization")


class OperatorAlerts:
    def __init__(self, *, interval: float = DEFAULT_INTERVAL_SECONDS, clock: Clock = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[tuple[str, FailureClass], float] = {}
        self._since: dict[tuple[str, FailureClass], int] = {}  # occurrences not logged since the last line

    def record(self, deployment: Deployment, error: ProviderError) -> None:
        advice = _ADVICE.get(error.failure)
        if advice is None:
            return
        key = (deployment.label, error.failure)
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._since[key] = self._since.get(key, 0) + 1
            return
        self._last[key] = now
        more = self._since.pop(key, 0)
        detail = _scrubbed(error.detail, deployment) if error.detail else "(no message)"
        log.error(
            "deployment %s: %s (%s, HTTP %s, code %s); provider said: %s%s",
            deployment.label,
            advice,
            error.failure.value,
            error.status if error.status is not None else "-",
            error.provider_code or "-",
            detail,
            f" [{more} more since the last report; logged at most every {self.interval:g} s]" if more else "",
        )


def _scrubbed(detail: str, deployment: Deployment) -> str:
    """`detail` without this provider's configured secret values (the adapter already redacted
    anything shaped like a key; this also catches keys of no known shape)."""
    settings, _ = resolve_provider_settings(deployment.provider_config)
    secrets = [
        value
        for name, value in settings.items()
        if isinstance(value, str) and len(value) >= 6 and any(part in name.lower() for part in _SECRET_NAMES)
    ]
    return upstream.redact(detail, secrets)
