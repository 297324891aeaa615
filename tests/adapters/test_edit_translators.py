"""test_translators.py's property for the edit encoders (`encode_edit`): on an edit request, every
non-default canonical field — the edit-only ones (`EDIT_ONLY`) and all the generate ones — either
changes the provider body or yields a warning, or the request is refused before any I/O."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import a1111, comfyui, comfyui_edit, flux
from gateway.canonical import ImageRequest
from tests.adapters.test_translators import EDIT_ONLY, NON_DEFAULT, Case, _assert_carried
from tests.support.edit_inputs import edit_request, half_mask, input_png

EDIT_BASE = edit_request()
EDIT_NON_DEFAULT: dict[str, st.SearchStrategy[Any]] = {
    "images": st.sampled_from(
        [(input_png((1, 2, 3)),), (input_png(), input_png((0, 0, 250))), (input_png(), input_png(), input_png())]
    ),
    "mask": st.sampled_from([half_mask(), half_mask(soft=128)]),
    "strength": st.floats(0.0, 1.0),
    "prompt_extend": st.booleans(),
    "watermark": st.just(True),
}
assert set(EDIT_NON_DEFAULT) == EDIT_ONLY
FIELDS = {**NON_DEFAULT, **EDIT_NON_DEFAULT}


def _flux(model: str) -> Case:
    return Case(
        f"flux:{model}",
        lambda req: flux.encode_edit(req, model=model, settings=flux.FluxSettings(), options=None),
        frozenset({("safe_mode", True)}),
    )


def _a1111(settings: dict[str, Any]) -> Case:
    decoded = a1111.A1111Settings(**settings)
    return Case(
        f"a1111:{'configured' if settings else 'default'}",
        lambda req: a1111.encode_edit(req, model="sdxl-base", settings=decoded, options=None),
        frozenset({("safe_mode", False)}),  # a plain local server has no NSFW filter
    )


def _comfyui(settings: dict[str, Any]) -> Case:
    decoded = comfyui.ComfyUISettings(**settings)
    template = comfyui_edit.load_edit_workflow(decoded)

    def encode(req: ImageRequest) -> tuple[object, list[str]]:
        # The adapter draws an unset seed first (-1 stands for it) and uploads the planned files:
        # their content-addressed names are what the graph then references.
        pinned = req if req.seed is not None else msgspec.structs.replace(req, seed=-1)
        uploads, warnings = comfyui_edit.plan_uploads(pinned, template)
        names = {item.placeholder: item.filename for item in uploads}
        graph, more = comfyui_edit.encode_edit(
            pinned, model="sd.safetensors", settings=decoded, template=template, names=names,
            options=comfyui.ComfyUIOptions(),
        )
        return graph, warnings + more

    return Case("comfyui:edit-template", encode, frozenset({("safe_mode", False)}))


def _sentinel_edit_workflow() -> dict[str, Any]:
    """The bundled edit graph with every placeholder input None (no request writes that), two
    image slots and a LoRA, so a template default equal to a request's value cannot hide a drop."""
    graph: dict[str, Any] = json.loads(comfyui_edit.BUNDLED_EDIT_WORKFLOW.read_text(encoding="utf-8"))
    placeholders = dict(comfyui_edit.DEFAULT_EDIT_PLACEHOLDERS)
    graph["20"] = {"class_type": "LoadImage", "inputs": {"image": None}}
    graph["21"] = {"class_type": "LoraLoader", "inputs": {"strength_model": None}}
    placeholders |= {"image_2": "20.image", "lora_strength": "21.strength_model"}
    for target in placeholders.values():
        node, _, field = target.partition(".")
        graph[node]["inputs"][field] = None
    return {"edit_workflow": graph, "edit_placeholders": placeholders, "sampler_name": "euler"}


EDIT_CASES: list[Case] = [
    *(_flux(model) for model, spec in sorted(flux.MODELS.items()) if spec.edit),
    _a1111({}),
    _a1111({"lora_name": "detail", "styles": ["Anime"], "sampler_name": "Euler a"}),
    _comfyui(_sentinel_edit_workflow()),  # the bundled graph + a reference slot + LoRA, no defaults
]


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("case", EDIT_CASES, ids=lambda c: c.name)
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_every_non_default_field_of_an_edit_changes_the_body_or_warns(
    case: Case, field: str, data: st.DataObject
) -> None:
    _assert_carried(case, EDIT_BASE, field, data.draw(FIELDS[field], label=field))


@pytest.mark.parametrize("case", EDIT_CASES, ids=lambda c: c.name)
def test_edit_translation_is_idempotent(case: Case) -> None:
    req: ImageRequest = msgspec.structs.replace(
        EDIT_BASE, mask=half_mask(), strength=0.5, prompt_extend=True, watermark=True, seed=3
    )
    first, second = case.encode(req), case.encode(req)
    assert msgspec.to_builtins(first[0]) == msgspec.to_builtins(second[0]) and first[1] == second[1]
