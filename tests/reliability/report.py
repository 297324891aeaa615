"""Render the figures of a reliability run as the Markdown table in docs/reliability.md.

IMAGEGATE_FIGURES=/tmp/figures.jsonl .venv/bin/python -m pytest -m reliability
.venv/bin/python -m tests.reliability.report /tmp/figures.jsonl
"""

from __future__ import annotations

import json
import sys

RUN = ".venv/bin/python -m pytest -m reliability -s"
# scenario (as recorded) -> (what is asserted, command that reproduces it)
ROWS: dict[str, tuple[str, str]] = {
    "F1 upstream 503 on 30% of calls": (
        "every request 200; <= 3 tries per deployment; retries <= max(3, 20% of first tries); one billed image each",
        f"{RUN} tests/reliability/test_upstream_faults.py -k f1",
    ),
    "F3 upstream hang after send": (
        "per request: 504 `upstream_timeout` with exactly 1 submit and no fallback, or (breaker open) 200 from the fallback with 0 primary submits; <= deadline + 1 s",
        f"{RUN} tests/reliability/test_upstream_faults.py -k 'f3 and hang'",
    ),
    "F3 upstream reset_before_response after send": (
        "as above (connection reset after the request was sent)",
        f"{RUN} tests/reliability/test_upstream_faults.py -k 'f3 and reset_before'",
    ),
    "F3 upstream reset_mid_body after send": (
        "as above (reset half-way through the response body)",
        f"{RUN} tests/reliability/test_upstream_faults.py -k 'f3 and reset_mid'",
    ),
    "F4 connection refused": (
        "nothing sent, so retried then fallen back: every request 200, exactly 1 submit at the fallback",
        f"{RUN} tests/reliability/test_upstream_faults.py -k f4",
    ),
    "F6 429 storm (Retry-After: 1)": (
        "every request 200 via the fallback; no retry sooner than Retry-After; <= 3 tries per request; primary calls <= requests + budget",
        f"{RUN} tests/reliability/test_upstream_faults.py -k f6",
    ),
    "F9 upstream malformed_json": (
        "200 via fallback, exactly 1 submit at each provider (no retry of an invalid body)",
        f"{RUN} tests/reliability/test_upstream_faults.py -k 'f9 and malformed'",
    ),
    "F9 upstream no_image": (
        "as above (`data: []`)",
        f"{RUN} tests/reliability/test_upstream_faults.py -k 'f9 and no_image'",
    ),
    "F9 upstream wrong_content_type": (
        "as above (200 text/html)",
        f"{RUN} tests/reliability/test_upstream_faults.py -k 'f9 and wrong_content'",
    ),
    "F9 upstream slow-drip body": (
        "504 `upstream_timeout` at the attempt timeout (1.5 s), exactly 1 submit, no fallback",
        f"{RUN} tests/reliability/test_upstream_faults.py -k slow_drip",
    ),
    "client disconnect mid-request": (
        "started upstream calls are closed (fake sees the hang-up), 0 Redis leases and 0 in-flight left, next requests get the full cap",
        f"{RUN} tests/reliability/test_upstream_faults.py -k disconnect",
    ),
    "F10 redis killed mid-run": (
        "mid-run: only 200 or 503 `auth_unavailable`; outage: 0 admitted and 0 upstream calls, every answer 503 within 0.25 s + 0.75 s slack; recovered <= 5 s; nonce claims == admitted after restart; upstream submits == admitted over the whole run",
        f"{RUN} tests/reliability/test_redis_outage.py -k killed",
    ),
    "F11 redis paused (SIGSTOP)": (
        "0 admitted and 0 upstream calls, 503 `auth_unavailable` within the Redis timeout (+ slack); recovered <= 5 s after SIGCONT",
        f"{RUN} tests/reliability/test_redis_outage.py -k paused",
    ),
    "S1 replay across 3 replicas": (
        "one envelope x30 over 3 replicas: exactly 1 success, 29 `auth_nonce_reused`; background wallets all 200",
        f"{RUN} tests/reliability/test_replicas.py",
    ),
    "three replicas: account limit and lease cap": (
        "account burst 5 over 3 replicas: exactly 5 admitted; provider cap 3: fake never sees > 3 in flight; lease set empty after",
        f"{RUN} tests/reliability/test_limits_under_attack.py -k three",
    ),
    "hot reload under load": (
        "4 SIGHUP reloads per replica confirmed while load runs: 0 failed requests; the new alias serves",
        f"{RUN} tests/reliability/test_hot_reload.py",
    ),
    "S4 signature flood from one IP": (
        "signatures verified == 401s <= burst + 1/s; the rest 429 + Retry-After; another IP unaffected",
        f"{RUN} tests/reliability/test_limits_under_attack.py -k flood",
    ),
    "S6 canary: Redis password": (
        "Redis `requirepass` canary: 0 occurrences in responses, headers, logs, /metrics (incl. Redis outage)",
        f"{RUN} tests/reliability/test_security.py -k redis_password",
    ),
    "S6 canaries through a full fault run": (
        "provider key + Redis password + relay URL password: 0 occurrences across every fault mode, an outage and every GET route",
        f"{RUN} tests/reliability/test_security.py -k full_fault",
    ),
    "S7/S11 provider URL tricks (BFL)": (
        "x-key only to https allow-listed API hosts; no request to any other host; 502/504",
        f"{RUN} tests/reliability/test_provider_urls.py",
    ),
    "S8 log injection": (
        "CR/LF/ANSI/fake JSON in prompt, user, metadata, model, path, SIWX: no forged line, no raw escape byte",
        f"{RUN} tests/reliability/test_security.py -k cannot_be_forged",
    ),
    "S8 log injection via provider error text": (
        "same payloads in a provider's 400 message (logged by the router): no forged line",
        f"{RUN} tests/reliability/test_security.py -k provider_error",
    ),
    "B1 schemathesis positive": (
        "every operation of /schema/openapi.json, valid inputs + signed header: no 5xx, responses match the schema",
        f"{RUN} tests/reliability/test_bad_input.py -k openapi",
    ),
    "B1 schemathesis negative": (
        "invalid inputs: no 5xx, responses match the schema, every error has `error.code`",
        f"{RUN} tests/reliability/test_bad_input.py -k openapi",
    ),
}


def render(path: str) -> str:
    rows = ["| scenario | asserted | observed (one real run) | reproduce |", "| --- | --- | --- | --- |"]
    recorded: dict[str, dict[str, object]] = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            figures = json.loads(line)
            figures.pop("at", None)
            recorded[figures.pop("scenario")] = figures
    order = [name for name in ROWS if name in recorded] + sorted(set(recorded) - set(ROWS))
    for name in order:
        asserted, command = ROWS.get(name, ("", RUN))
        observed = ", ".join(f"{k}={_short(v)}" for k, v in recorded[name].items())
        rows.append(f"| {name} | {asserted} | {observed} | `{command}` |")
    missing = [name for name in ROWS if name not in recorded]
    if missing:
        rows.append(f"\nNot recorded in this run: {', '.join(missing)}")
    return "\n".join(rows) + "\n"


def _short(value: object) -> str:
    text = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    return text.replace("|", "\\|")


if __name__ == "__main__":
    sys.stdout.write(render(sys.argv[1]))
