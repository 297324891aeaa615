"""Building blocks shared by the scenarios: routing files, signed headers, metrics and log scans."""

from __future__ import annotations

import re
from typing import Any

import httpx
import yaml

PUBLIC_ORIGIN = "http://gateway.test"  # what clients sign for; every replica accepts it
GENERATE_URL = PUBLIC_ORIGIN + "/api/v1/image/generate"
AUTH_ON: dict[str, Any] = {
    "enabled": True,
    "domains": ["gateway.test"],
    "origins": [PUBLIC_ORIGIN],
    "chains": ["eip155:1"],
    "replay": "single_use",
}
AUTH_OFF: dict[str, Any] = {"enabled": False}


def routing_yaml(
    *,
    providers: dict[str, Any] | None = None,
    models: dict[str, Any] | None = None,
    auth: dict[str, Any] | None = None,
    **sections: Any,
) -> str:
    """A routing file; by default one `mock-image` model on the in-process mock adapter, auth off."""
    document: dict[str, Any] = {
        "providers": providers or {"mock": {"adapter": "mock", "settings": {"max_n": 4}}},
        "models": models or {"mock-image": {"deployments": [{"provider": "mock", "model": "mock-v1"}]}},
        "auth": auth or AUTH_OFF,
        **sections,
    }
    return yaml.safe_dump(document, sort_keys=False)


class Wallet:
    """A throwaway EVM wallet that signs one fresh envelope per call (gateway.client)."""

    def __init__(self) -> None:
        from gateway.client import EvmSigner

        self.signer = EvmSigner.throwaway()

    def header(self, *, nonce: str | None = None) -> dict[str, str]:
        from gateway.client import sign_header

        return {"Sign-In-With-X": sign_header(GENERATE_URL, self.signer, nonce=nonce)}


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def scrape(url: str) -> dict[str, float]:
    """GET /metrics -> {"name{labels}": value} (counters summed as exported)."""
    text = httpx.get(url + "/metrics", timeout=5).text
    samples: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def metric_sum(samples: dict[str, float], name: str, **labels: str) -> float:
    """Sum of every sample of `name` whose labels include `labels`."""
    total = 0.0
    for key, value in samples.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            total += value
    return total
