"""The size resolver (precedence of providers.md 4.2), the snappers and the quality step presets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import sizing
from gateway.canonical import ImageRequest, Quality, Resolution


def req(**fields: object) -> ImageRequest:
    return ImageRequest(model="m", prompt="p", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "size"),
    [
        ({}, None),
        ({"width": 640, "height": 480, "aspect_ratio": (1, 1), "resolution": Resolution.R4K}, (640, 480)),
        ({"aspect_ratio": (16, 9), "resolution": Resolution.R2K}, (2048, 1152)),
        ({"aspect_ratio": (9, 16)}, (576, 1024)),
        ({"resolution": Resolution.R4K}, (4096, 4096)),
        ({"width": 800}, (800, 800)),
        ({"width": 800, "aspect_ratio": (2, 1)}, (800, 400)),
        ({"height": 600, "aspect_ratio": (4, 3)}, (800, 600)),
    ],
)
def test_requested_size_precedence(fields: dict[str, object], size: tuple[int, int] | None) -> None:
    assert sizing.requested_size(req(**fields)) == size


def test_enumerated_prefers_ratio_then_area() -> None:
    options = [(256, 256), (512, 512), (1024, 1024)]
    assert sizing.snap_enumerated((500, 500), options).size == (512, 512)
    assert sizing.snap_enumerated((300, 300), options).size == (256, 256)
    landscape = [(1024, 1024), (1792, 1024), (1024, 1792)]
    snapped = sizing.snap_enumerated((1920, 1080), landscape)
    assert snapped.size == (1792, 1024) and snapped.warning and "1920x1080" in snapped.warning
    assert sizing.snap_enumerated((1024, 1024), landscape).warning is None


def test_nearest_aspect() -> None:
    ratios = [(16, 9), (1, 1), (9, 16)]
    assert sizing.nearest_aspect((1920, 1080), ratios) == ((16, 9), None)
    best, warning = sizing.nearest_aspect((3000, 1000), ratios)
    assert best == (16, 9) and warning and "3:1" in warning


@given(
    w=st.integers(64, 8192),
    h=st.integers(64, 8192),
    multiple=st.sampled_from([8, 16, 32]),
)
def test_free_snap_always_fits_the_limits(w: int, h: int, multiple: int) -> None:
    limits = sizing.FreeLimits(multiple=multiple, min_side=256, max_side=1440, max_pixels=1024 * 1024)
    snapped = sizing.snap_free((w, h), limits)
    assert snapped.width % multiple == 0 and snapped.height % multiple == 0
    assert 256 <= snapped.width <= 1440 and 256 <= snapped.height <= 1440
    assert snapped.width * snapped.height <= 1024 * 1024
    assert (snapped.warning is None) == ((snapped.width, snapped.height) == (w, h))


@given(w=st.integers(64, 8192), h=st.integers(64, 8192))
def test_ratio_bound_is_respected(w: int, h: int) -> None:
    limits = sizing.FreeLimits(multiple=16, min_side=256, max_side=3840, max_short_side=2160, max_ratio=3.0)
    snapped = sizing.snap_free((w, h), limits)
    assert max(snapped.size) / min(snapped.size) <= 3.0 + 0.1
    assert min(snapped.size) <= 2160


@pytest.mark.parametrize(
    ("quality", "steps"),
    [(None, None), (Quality.AUTO, None), (Quality.LOW, 14), (Quality.MEDIUM, 28), (Quality.HIGH, 49)],
)
def test_quality_presets(quality: Quality | None, steps: int | None) -> None:
    assert sizing.steps_for_quality(quality, 28, 50) == steps
    assert sizing.steps_for_quality(Quality.HIGH, 40, 50) == 50  # capped by the provider max


def test_clamp_warns_only_when_out_of_range() -> None:
    assert sizing.clamp("guide_scale", 3.0, 1.5, 5.0) == (3.0, None)
    value, warning = sizing.clamp("guide_scale", 9.0, 1.5, 5.0)
    assert value == 5.0 and warning and "clamped to 5" in warning
