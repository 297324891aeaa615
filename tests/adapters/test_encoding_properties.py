"""Property tests: every adapter's encoding is deterministic (it reruns on each retry) and always
produces a size its provider accepts, whatever canonical size fields arrive."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import a1111, flux, openai_images
from gateway.canonical import ImageRequest, Quality, Resolution

sides = st.one_of(st.none(), st.integers(64, 8192))
ratios = st.one_of(st.none(), st.tuples(st.integers(1, 50), st.integers(1, 50)))
requests = st.builds(
    ImageRequest,
    model=st.just("m"),
    prompt=st.just("a fox"),
    width=sides,
    height=sides,
    aspect_ratio=ratios,
    resolution=st.one_of(st.none(), st.sampled_from(list(Resolution))),
    quality=st.one_of(st.none(), st.sampled_from(list(Quality))),
    steps=st.one_of(st.none(), st.integers(1, 150)),
    guide_scale=st.one_of(st.none(), st.floats(0.0, 50.0)),
    seed=st.one_of(st.none(), st.integers(0, 2**31 - 1)),
)


def _size(body: dict[str, Any]) -> tuple[int, int] | None:
    if "size" in body:
        w, h = body["size"].split("x")
        return int(w), int(h)
    if "width" in body:
        return body["width"], body["height"]
    return None


@settings(max_examples=150, deadline=None)
@given(req=requests, model=st.sampled_from(["dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-2"]))
def test_openai_sizes_are_always_accepted(req: ImageRequest, model: str) -> None:
    family = openai_images.family_of(model)
    first = openai_images.encode_request(req, model=model, family=family)
    assert first == openai_images.encode_request(req, model=model, family=family)
    size = _size(first[0])
    if size is None:
        return
    spec = openai_images._FAMILIES[family]
    if spec.sizes:
        assert size in spec.sizes
    else:
        w, h = size
        # gpt-image-2 as documented (tests/adapters/test_size_rules.py has the exhaustive check).
        assert w % 16 == 0 and h % 16 == 0 and max(w, h) <= 3840
        assert max(w, h) / min(w, h) <= 3.0 and 655_360 <= w * h <= 8_294_400


@settings(max_examples=150, deadline=None)
@given(req=requests, model=st.sampled_from(sorted(flux._MODELS)))
def test_flux_sizes_steps_and_guidance_are_always_accepted(req: ImageRequest, model: str) -> None:
    first = flux.encode_request(req, model=model, settings=flux.FluxSettings())
    assert first == flux.encode_request(req, model=model, settings=flux.FluxSettings())
    body, spec = first[0], flux.model_spec(model)
    size = _size(body)
    if spec.size_mode == "aspect":
        assert size is None
    elif size is not None:
        limits = spec.limits
        assert limits is not None
        assert all(
            side % limits.multiple == 0 and limits.min_side <= side <= limits.max_side for side in size
        )
        assert limits.max_pixels is None or size[0] * size[1] <= limits.max_pixels
    assert 1 <= body.get("steps", 1) <= 50
    if "guidance" in body:
        assert spec.guidance is not None and spec.guidance[0] <= body["guidance"] <= spec.guidance[1]


@settings(max_examples=150, deadline=None)
@given(req=requests)
def test_a1111_sizes_and_cfg_are_always_accepted(req: ImageRequest) -> None:
    decoded = a1111.A1111Settings()
    first = a1111.encode_request(req, model="sd", settings=decoded)
    assert first == a1111.encode_request(req, model="sd", settings=decoded)
    body = first[0]
    size = _size(body)
    if size is not None:
        assert all(side % 8 == 0 and 64 <= side <= 2048 for side in size)
    assert 1.0 <= body.get("cfg_scale", 7.0) <= 30.0
    assert body["seed"] == (req.seed if req.seed is not None else -1)
