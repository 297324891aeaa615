"""Every size the gateway can send satisfies the model's documented rules (issue 14 item 8).

The rules below are written from the providers' public docs, independently of the data files the
adapters read (adapters/openai_models.json, flux_models.json), so a wrong table fails here.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import flux, openai_images
from gateway.canonical import ImageRequest, Resolution


@dataclass(frozen=True)
class Rule:
    multiple: int
    min_side: int
    max_side: int
    min_pixels: int = 0
    max_pixels: int | None = None
    max_ratio: float | None = None

    def check(self, w: int, h: int) -> None:
        assert w % self.multiple == 0 and h % self.multiple == 0, (w, h)
        assert self.min_side <= min(w, h) and max(w, h) <= self.max_side, (w, h)
        assert w * h >= self.min_pixels, (w, h, w * h)
        assert self.max_pixels is None or w * h <= self.max_pixels, (w, h, w * h)
        assert self.max_ratio is None or max(w, h) / min(w, h) <= self.max_ratio, (w, h)


# OpenAI image generation guide, gpt-image-2: edges multiples of 16, max edge 3840, long:short <= 3:1,
# 655,360 <= pixels <= 8,294,400.
GPT_IMAGE_2 = Rule(16, 16, 3840, min_pixels=655_360, max_pixels=8_294_400, max_ratio=3.0)
ENUMERATED = {
    "dall-e-2": {(256, 256), (512, 512), (1024, 1024)},
    "dall-e-3": {(1024, 1024), (1792, 1024), (1024, 1792)},
    "gpt-image-1": {(1024, 1024), (1536, 1024), (1024, 1536)},
}
# docs.bfl.ai: FLUX.1 pro/dev width/height 256..1440 in steps of 32; FLUX.2 multiples of 16, >= 64, <= 4 MP.
FLUX_1 = Rule(32, 256, 1440)
FLUX_2 = Rule(16, 64, 4096, max_pixels=4_194_304)
FLUX_FREE = {
    "flux-pro-1.1": FLUX_1,
    "flux-dev": FLUX_1,
    "flux-pro": FLUX_1,
    **{m: FLUX_2 for m in ("flux-2-pro", "flux-2-max", "flux-2-flex", "flux-2-klein-4b", "flux-2-klein-9b")},
}
# BFL ultra / kontext: aspect_ratio between 21:9 and 9:21.
FLUX_ASPECT = ("flux-pro-1.1-ultra", "flux-kontext-pro", "flux-kontext-max")

RATIOS = [
    (1, 1),
    (16, 9),
    (9, 16),
    (4, 3),
    (3, 4),
    (3, 2),
    (2, 3),
    (21, 9),
    (9, 21),
    (1, 3),
    (3, 1),
    (5, 1),
    (1, 8),
    (2, 1),
    (1, 2),
]
TIERS = [None, Resolution.R1K, Resolution.R2K, Resolution.R4K]
SIDES = [1, 64, 256, 333, 512, 576, 1000, 1024, 1440, 2048, 3000, 4096, 8192]


def requests() -> list[ImageRequest]:
    """Every shape of size request: pixels, ratio x tier, one side + ratio, tier alone."""
    out = [ImageRequest(model="m", prompt="p", width=w, height=h) for w, h in itertools.product(SIDES, SIDES)]
    out += [
        ImageRequest(model="m", prompt="p", aspect_ratio=r, resolution=t)
        for r, t in itertools.product(RATIOS, TIERS)
    ]
    out += [
        ImageRequest(model="m", prompt="p", width=s, aspect_ratio=r)
        for s, r in itertools.product(SIDES, RATIOS)
    ]
    return out


def openai_size(req: ImageRequest, model: str) -> tuple[int, int]:
    body, _ = openai_images.encode_request(req, model=model, family=openai_images.family_of(model))
    w, h = body["size"].split("x")
    return int(w), int(h)


def test_the_reported_cases_are_fixed() -> None:
    """16:9 was 1024x576, 512x512 went unchanged, 1:3 was 336x1008: all below 655,360 pixels."""
    for req in (
        ImageRequest(model="m", prompt="p", aspect_ratio=(16, 9)),
        ImageRequest(model="m", prompt="p", width=512, height=512),
        ImageRequest(model="m", prompt="p", aspect_ratio=(1, 3)),
    ):
        GPT_IMAGE_2.check(*openai_size(req, "gpt-image-2"))
    w, h = openai_size(ImageRequest(model="m", prompt="p", aspect_ratio=(16, 9)), "gpt-image-2")
    assert abs(w / h / (16 / 9) - 1) < 0.02, (w, h)  # grown keeping the ratio: 1088x608


@pytest.mark.parametrize("model", ["gpt-image-2", "gpt-image-2-2026-04-21"])
def test_gpt_image_2_every_request_shape(model: str) -> None:
    for req in requests():
        GPT_IMAGE_2.check(*openai_size(req, model))


@settings(max_examples=300, deadline=None)
@given(w=st.integers(1, 20_000), h=st.integers(1, 20_000))
def test_gpt_image_2_any_pixels(w: int, h: int) -> None:
    GPT_IMAGE_2.check(*openai_size(ImageRequest(model="m", prompt="p", width=w, height=h), "gpt-image-2"))


@pytest.mark.parametrize("model", sorted(ENUMERATED))
def test_enumerated_openai_sizes(model: str) -> None:
    for req in requests():
        assert openai_size(req, model) in ENUMERATED[model]


def flux_body(req: ImageRequest, model: str) -> dict[str, object]:
    body, _ = flux.encode_request(req, model=model, settings=flux.FluxSettings())
    return body


@pytest.mark.parametrize("model", sorted(FLUX_FREE))
def test_flux_free_sizes(model: str) -> None:
    for req in requests():
        body = flux_body(req, model)
        assert isinstance(body["width"], int) and isinstance(body["height"], int)
        FLUX_FREE[model].check(body["width"], body["height"])


@settings(max_examples=200, deadline=None)
@given(w=st.integers(1, 20_000), h=st.integers(1, 20_000), model=st.sampled_from(sorted(FLUX_FREE)))
def test_flux_free_any_pixels(w: int, h: int, model: str) -> None:
    body = flux_body(ImageRequest(model="m", prompt="p", width=w, height=h), model)
    assert isinstance(body["width"], int) and isinstance(body["height"], int)
    FLUX_FREE[model].check(body["width"], body["height"])


@pytest.mark.parametrize("model", FLUX_ASPECT)
def test_flux_aspect_only(model: str) -> None:
    for req in requests():
        body = flux_body(req, model)
        assert "width" not in body and "height" not in body
        w, h = (int(x) for x in str(body["aspect_ratio"]).split(":"))
        assert 9 / 21 - 1e-9 <= w / h <= 21 / 9 + 1e-9


def test_aspect_warning_names_the_ratio_the_client_sent() -> None:
    """Item 12: "1:3" was reported as "341:1024" (the ratio of the pixels derived from it)."""
    _, warnings = flux.encode_request(
        ImageRequest(model="m", prompt="p", aspect_ratio=(1, 3)),
        model="flux-pro-1.1-ultra",
        settings=flux.FluxSettings(),
    )
    assert any("aspect_ratio: 1:3 is not supported" in w for w in warnings), warnings
