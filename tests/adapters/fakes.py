"""The adapter contract table: each adapter kind under test, its settings and its provider fake.

The fakes themselves (one module per provider, plain and streaming flows) live in tests/fakes/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.fakes.a1111 import FakeA1111
from tests.fakes.base import SECRET, Failure, Fake
from tests.fakes.bfl import FakeBFL
from tests.fakes.comfyui import FakeComfy
from tests.fakes.fal import FakeFal
from tests.fakes.google import FakeGoogle
from tests.fakes.openai import FakeOpenAI
from tests.fakes.replicate import FakeReplicate
from tests.fakes.stability import FakeStability


@dataclass(frozen=True)
class AdapterCase:
    """One adapter under contract test: how to build it and its fake."""

    name: str
    kind: str
    model: str
    settings: dict[str, object]
    fake: Callable[[Failure | None], Fake]
    reports_seed: bool = True  # the provider says which seed made each image


CASES = [
    AdapterCase("openai", "openai", "dall-e-2", {"api_key": SECRET}, FakeOpenAI, reports_seed=False),
    AdapterCase(
        "flux",
        "flux",
        "flux-pro-1.1",
        {"api_key": SECRET, "poll_interval_seconds": 0.0},
        lambda f: FakeBFL(f),
    ),
    AdapterCase(
        "a1111",
        "local_diffusion",
        "v1-5-pruned-emaonly",
        {"backend": "a1111", "base_url": "http://sd.local:7860", "username": "u", "password": SECRET},
        FakeA1111,
    ),
    AdapterCase(
        "comfyui",
        "local_diffusion",
        "v1-5-pruned-emaonly.safetensors",
        {"backend": "comfyui", "base_url": "http://comfy.local:8188", "poll_interval_seconds": 0.0},
        lambda f: FakeComfy(f),
    ),
    AdapterCase("google", "google", "gemini-2.5-flash-image", {"api_key": SECRET}, FakeGoogle, reports_seed=False),
    AdapterCase(
        "google-imagen", "google", "imagen-4.0-generate-001", {"api_key": SECRET}, FakeGoogle, reports_seed=False
    ),
    AdapterCase("stability", "stability", "core", {"api_key": SECRET}, FakeStability),
    AdapterCase("stability-json", "stability", "sd3.5-large", {"api_key": SECRET, "accept": "json"}, FakeStability),
    AdapterCase("fal", "fal", "fal-ai/flux/dev", {"api_key": SECRET, "poll_interval_seconds": 0.0}, FakeFal),
    AdapterCase("replicate", "replicate", "black-forest-labs/flux-schnell", {"api_key": SECRET}, FakeReplicate),
]
