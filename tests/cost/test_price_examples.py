"""Every example `# price:` line in the shipped routing examples is a valid price once the operator
fills in the `<usd>` amounts (the examples carry no figure our reference notes do not record)."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from gateway.config.cost import PriceConfig

ROOT = Path(__file__).resolve().parents[2]
FILES = ("deploy/routing.example.yaml", "docs/examples/routing.providers.yaml")
PRICE = re.compile(r"#\s*price:\s*(\{.*\})\s*$")


def _examples(name: str) -> list[str]:
    return [m.group(1) for line in (ROOT / name).read_text().splitlines() if (m := PRICE.search(line))]


@pytest.mark.parametrize("name", FILES)
def test_example_prices_load_once_filled_in(name: str) -> None:
    examples = _examples(name)
    assert len(examples) >= 7  # google x2, stability, fal, replicate, xai, openrouter at least
    forms = set()
    for example in examples:
        price = msgspec.yaml.decode(example.replace("<usd>", "0.01"), type=PriceConfig)
        forms.add("provider_reported" if price.provider_reported else "per_megapixel" if price.per_megapixel else "other")
    assert {"provider_reported", "per_megapixel"} <= forms
