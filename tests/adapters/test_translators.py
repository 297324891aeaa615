"""One property over every adapter's pure encoder (architecture review §4b): each non-default
canonical field either changes the provider body or yields a warning — nothing is silently lost.

Adding a canonical field means adding it to `NON_DEFAULT` below; an adapter that forgets it (no body
change, no `dropped` warning) then fails here. Adding an adapter means one row in `CASES`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import (
    a1111,
    comfyui,
    comfyui_workflow,
    fal,
    fal_translate,
    flux,
    google,
    google_translate,
    mock,
    openai_images,
    openai_profiles,
    replicate,
    replicate_translate,
    stability,
    stability_translate,
)
from gateway.canonical import ImageRequest, Quality, Resolution
from gateway.errors import FailureClass, ProviderError

Encode = Callable[[ImageRequest], tuple[object, list[str]]]
BASE = ImageRequest(model="m", prompt="a fox")

# Fields the gateway fulfils whatever the provider does (docs/providers.md "Warnings"): the
# deployment's provider model is sent instead of `model`; `output_format` is transcoded by the
# gateway; the rest are delivery or gateway-side.
GATEWAY_SIDE = {
    "model",
    "output_format",
    "output_type",
    "stream",
    "embed_exif_metadata",
    "hide_watermark",
    "metadata",
    # /v1's OpenAI-only fields: the OpenAI adapter carries them (tests/api/test_openai_passthrough.py);
    # for any other provider the /v1 codec names the provider that dropped them.
    "openai_fields",
}
# Edit-only fields (image-edit.md): generate encoders never see them; each adapter's edit encoder is
# checked in its own edit tests.
EDIT_ONLY = {"images", "mask", "strength", "prompt_extend", "watermark"}

_text = st.text(min_size=1, max_size=12)  # an empty string says nothing, like an unset field
# Every other canonical field, with the values that differ from "unset". Not drawn: `quality: auto`
# and `enable_web_search: false`, which ask for the provider's own default, as an unset field does.
NON_DEFAULT: dict[str, st.SearchStrategy[Any]] = {
    "prompt": st.text(min_size=1, max_size=12).filter(lambda p: p != BASE.prompt),
    "n": st.integers(2, 10),
    "negative_prompt": _text,
    "width": st.integers(1, 8192),
    "height": st.integers(1, 8192),
    "aspect_ratio": st.tuples(st.integers(1, 50), st.integers(1, 50)),
    "resolution": st.sampled_from(list(Resolution)),
    "style": _text,
    "quality": st.sampled_from([Quality.LOW, Quality.MEDIUM, Quality.HIGH]),
    "seed": st.integers(0, 2**31 - 1),
    "guide_scale": st.floats(0.0, 50.0),
    "steps": st.integers(1, 150),
    "style_preset": _text,
    "lora_strength": st.integers(0, 100),
    "safe_mode": st.booleans(),
    "enable_web_search": st.just(True),
    "user": _text,
}


@dataclass(frozen=True)
class Case:
    name: str
    encode: Encode
    # (field, value) pairs the provider's default already honours, so sending nothing is right.
    by_default: frozenset[tuple[str, object]] = frozenset()


def _openai(model: str, settings: dict[str, object] | None = None) -> Case:
    decoded = msgspec.convert(settings or {}, openai_images.OpenAISettings)
    # Hosted moderation is on unless asked otherwise: safe_mode true is what every family does anyway.
    return Case(
        f"openai:{model}" + (f":{settings['profile']}" if settings and "profile" in settings else ""),
        lambda req: openai_images.encode_request(req, model=model, settings=decoded, options=None),
        frozenset({("safe_mode", True)}),
    )


def _flux(model: str) -> Case:
    # safe_mode true (or absent) sends the operator's `safety_tolerance`: BFL's moderation is on.
    return Case(
        f"flux:{model}",
        lambda req: flux.encode_request(req, model=model, settings=flux.FluxSettings(), options=None),
        frozenset({("safe_mode", True)}),
    )


def _google(model: str) -> Case:
    # Google's safety filters are always on: safe_mode true is what it does anyway.
    return Case(
        f"google:{model}",
        lambda req: google.encode_request(req, model=model, settings=google.GoogleSettings(), options=None),
        frozenset({("safe_mode", True)}),
    )


def _stability(model: str) -> Case:
    # Stability's moderation is always on: safe_mode true is what it does anyway.
    return Case(
        f"stability:{model}",
        lambda req: stability.encode_request(req, model=model, settings=stability.StabilitySettings(), options=None),
        frozenset({("safe_mode", True)}),
    )


def _fal(model: str) -> Case:
    # fal's safety checker is on unless asked otherwise: safe_mode true is what it does anyway.
    return Case(
        f"fal:{model}",
        lambda req: fal.encode_request(req, model=model, settings=fal.FalSettings(), options=None),
        frozenset({("safe_mode", True)}),
    )


def _replicate(model: str) -> Case:
    # Replicate's models keep their safety checker on unless asked otherwise.
    return Case(
        f"replicate:{model}",
        lambda req: replicate.encode_request(req, model=model, settings=replicate.ReplicateSettings(), options=None),
        frozenset({("safe_mode", True)}),
    )


def _mock() -> Case:
    # The double has no moderation, so safe_mode false (relax it) is what it does anyway.
    return Case(
        "mock",
        lambda req: mock.encode_request(req, model="mock-1", settings=mock.MockSettings(), options=None),
        frozenset({("safe_mode", False)}),
    )


# --- the local backends (`a1111` and `comfyui` kinds). A plain local server has no NSFW filter, so
# safe_mode false is what it does anyway.
_LOCAL_DEFAULT = frozenset({("safe_mode", False)})


def _a1111(settings: dict[str, Any]) -> Case:
    decoded = a1111.A1111Settings(**settings)
    return Case(
        f"a1111:{'configured' if settings else 'default'}",
        lambda req: a1111.encode_request(req, model="sdxl-base", settings=decoded, options=None),
        _LOCAL_DEFAULT,
    )


def _comfyui(settings: dict[str, Any]) -> Case:
    decoded = comfyui.ComfyUISettings(**settings)
    template = comfyui_workflow.load_workflow(decoded)

    def encode(req: ImageRequest) -> tuple[object, list[str]]:
        # The adapter draws an unset seed before encoding (`with_seed`); -1 stands for "drawn" here.
        pinned = req if req.seed is not None else msgspec.structs.replace(req, seed=-1)
        return comfyui.encode_request(
            pinned, model="sdxl.safetensors", settings=decoded, template=template, options=None
        )

    lora = "lora_strength" in settings["placeholders"]
    return Case(f"comfyui:{'lora' if lora else 'bundled'}", encode, _LOCAL_DEFAULT)


def _sentinel_workflow(lora: bool) -> dict[str, Any]:
    """The bundled graph with every placeholder input set to None, a value no request writes: a
    template default that happens to equal the request's value (steps 20, cfg 8, 512 pixels) would
    otherwise look like a dropped field. `lora` adds a LoraLoader behind a `lora_strength` placeholder."""
    graph: dict[str, Any] = json.loads(comfyui_workflow.BUNDLED_WORKFLOW.read_text(encoding="utf-8"))
    placeholders = dict(comfyui_workflow.DEFAULT_PLACEHOLDERS)
    if lora:
        graph["10"] = {"class_type": "LoraLoader", "inputs": {"strength_model": None}}
        placeholders["lora_strength"] = "10.strength_model"
    for target in placeholders.values():
        node, _, field = target.partition(".")
        graph[node]["inputs"][field] = None
    return {"workflow": graph, "placeholders": placeholders}


LOCAL_CASES = [
    _a1111({}),
    _a1111({"lora_name": "detail", "styles": ["Anime"], "sampler_name": "Euler a"}),
    _comfyui(_sentinel_workflow(lora=False)),
    _comfyui({**_sentinel_workflow(lora=True), "sampler_name": "euler"}),
]

CASES: list[Case] = [
    *(_openai(model) for model in ("dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-1-mini", "gpt-image-2")),
    _openai("sd-turbo", {"family": "compatible"}),
    *(_openai(f"{name}-model", {"profile": name}) for name in openai_profiles.PROFILE_NAMES),
    *(_flux(model) for model in sorted(flux.MODELS)),
    *(_google(model) for model in sorted(google_translate.MODELS)),
    *(_stability(model) for model in sorted(stability_translate.MODELS)),
    *(_fal(model) for model in sorted(fal_translate.MODELS)),
    *(_replicate(model) for model in sorted(replicate_translate.MODELS)),
    _mock(),
    *LOCAL_CASES,
]


def _plain(body: object) -> object:
    return msgspec.to_builtins(body)


def test_every_canonical_field_is_checked_or_gateway_side() -> None:
    """A new canonical field must be added to NON_DEFAULT (or GATEWAY_SIDE): then every adapter that
    forgets it fails below."""
    assert set(ImageRequest.__struct_fields__) == set(NON_DEFAULT) | GATEWAY_SIDE | EDIT_ONLY


def _assert_carried(case: Case, base: ImageRequest, field: str, value: object) -> None:
    base_body, base_warnings = case.encode(base)
    try:
        body, warnings = case.encode(msgspec.structs.replace(base, **{field: value}))
    except ProviderError as exc:  # refused before any I/O (e.g. n above what one call makes): not lost
        assert exc.failure is FailureClass.CALLER_FAULT
        return
    if (field, value) in case.by_default:
        return
    new_warnings = [w for w in warnings if w not in base_warnings]
    assert _plain(body) != _plain(base_body) or new_warnings, (
        f"{case.name}: {field}={value!r} changed nothing and yielded no warning (silently dropped)"
    )


@pytest.mark.parametrize("field", sorted(NON_DEFAULT))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_every_non_default_field_changes_the_body_or_warns(
    case: Case, field: str, data: st.DataObject
) -> None:
    _assert_carried(case, BASE, field, data.draw(NON_DEFAULT[field], label=field))


requests = st.builds(
    ImageRequest,
    model=st.just("m"),
    prompt=st.just("a fox"),
    **{
        name: st.one_of(st.none(), strategy)
        for name, strategy in NON_DEFAULT.items()
        if name not in ("prompt", "n")
    },
)
# The size fields rank among themselves (width+height > ratio+resolution > ratio > resolution,
# docs/providers.md): one outranked by another is the spec's rule, not a dropped field.
SIZE_FIELDS = ("width", "height", "aspect_ratio", "resolution")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@settings(max_examples=60, deadline=None)
@given(base=requests, data=st.data())
def test_a_field_is_carried_whatever_else_the_request_sets(
    case: Case, base: ImageRequest, data: st.DataObject
) -> None:
    field = data.draw(st.sampled_from(sorted(set(NON_DEFAULT) - {"prompt", "n"})), label="field")
    cleared = SIZE_FIELDS if field in SIZE_FIELDS else (field,)
    base = msgspec.structs.replace(base, **dict.fromkeys(cleared))
    _assert_carried(case, base, field, data.draw(NON_DEFAULT[field], label=field))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@settings(max_examples=30, deadline=None)
@given(req=requests)
def test_translation_is_idempotent(case: Case, req: ImageRequest) -> None:
    """Translation reruns on every retry (adapters/base.py): the same request encodes the same way."""
    first = case.encode(req)
    second = case.encode(req)
    assert _plain(first[0]) == _plain(second[0]) and first[1] == second[1]
