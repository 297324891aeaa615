"""Every endpoint that is admitted (and so may hold an Idempotency-Key claim) answers through
`idempotent(...)`: otherwise a repeat would run again and a claim would hold until it lapses.
A new generating route (edit, async jobs) that calls `admit` fails here until it wraps its work."""

from __future__ import annotations

import ast
from pathlib import Path

API = Path(__file__).resolve().parents[2] / "gateway" / "api"


def _calls(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else "")
    return names


def test_every_admitting_endpoint_uses_idempotent() -> None:
    admitting = []
    for module in sorted(API.glob("*.py")):
        if module.name == "admit.py":
            continue
        calls = _calls(ast.parse(module.read_text(encoding="utf-8")))
        if "admit" in calls:
            admitting.append(module.name)
            assert "idempotent" in calls, f"{module.name} calls admit() but never idempotent()"
    assert {"images.py", "openai_compat.py"} <= set(admitting)
