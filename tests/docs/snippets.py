"""The code blocks of README.md and docs/*.md, and how each is run (tests/docs/test_snippets.py).

Every fenced block whose language is shell (sh, bash, shell, console), Python or JavaScript is run
against a live gateway, as a reader would run it from the checkout, unless the line right above its
fence (blank lines aside) is an HTML comment:
    <!-- not-run: <why> -->          skipped, and the reason is reported
    <!-- tested-by: <test> -->       run by that test instead (reported, not run twice)
Other blocks (text, yaml, json, output transcripts) are not programs: YAML and JSON ones must parse.
New pages under docs/ are picked up as they are added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHELL = {"sh", "bash", "shell", "console", "zsh"}
PYTHON = {"python", "py", "python3"}
JAVASCRIPT = {"js", "javascript", "mjs"}
TYPESCRIPT = {"ts", "typescript"}
PARSED = {"yaml", "yml", "json"}
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)[^\n]*$")
_MARK = re.compile(r"^\s*<!--\s*(not-run|tested-by)\s*:\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    mark: tuple[str, str] | None  # ("not-run", reason) | ("tested-by", test)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def kind(self) -> str:
        """shell | python | javascript | typescript | parsed | other"""
        for kind, names in (
            ("shell", SHELL),
            ("python", PYTHON),
            ("javascript", JAVASCRIPT),
            ("typescript", TYPESCRIPT),
            ("parsed", PARSED),
        ):
            if self.language.lower() in names:
                return kind
        return "other"


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def snippets(page: Path) -> list[Snippet]:
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Snippet] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        indent, ticks, language = fence.groups()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(ticks):
            j += 1
        body = [line[len(indent) :] if line.startswith(indent) else line for line in lines[i + 1 : j]]
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        mark = _MARK.match(lines[k]) if k >= 0 else None
        found.append(
            Snippet(page, i + 1, language, "\n".join(body) + "\n", (mark.group(1), mark.group(2)) if mark else None)
        )
        i = j + 1
    return found


def shell_script(text: str) -> str:
    """A console transcript (`$ cmd` lines followed by output) keeps only its commands."""
    lines = text.splitlines()
    if any(line.startswith("$ ") for line in lines):
        return "\n".join(line[2:] for line in lines if line.startswith("$ ")) + "\n"
    return text
