"""Scenario figures: each scenario records what it observed; docs/reliability.md is built from them.

Set IMAGEGATE_FIGURES=<file> to append one JSON line per scenario to that file (the command in
docs/reliability.md does); the figures are also printed (visible with `pytest -s`).
"""

from __future__ import annotations

import json
import os
import time


def record(scenario: str, **figures: object) -> None:
    line = json.dumps(
        {"scenario": scenario, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **figures},
        default=str,
        sort_keys=False,
    )
    print(f"\nFIGURES {line}")
    target = os.environ.get("IMAGEGATE_FIGURES")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.write(line + "\n")
