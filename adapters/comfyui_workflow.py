"""The ComfyUI workflow template: an API-format graph plus `placeholders` naming where each value goes.

The operator supplies the graph (`workflow` inline or `workflow_path`) and `placeholders` mapping
canonical names to `"<node_id>.<input>"`; without them the bundled SD 1.5/SDXL-style graph
(comfyui_default_workflow.json) is used. Loaded and checked once when the adapter is built (so
check-config names a bad key); the values and the filling are pure.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from adapters.base import AdapterSettingsError
from adapters.local_common import LocalSettings, common_fields
from gateway.canonical import ImageRequest

BUNDLED_WORKFLOW = Path(__file__).with_name("comfyui_default_workflow.json")
DEFAULT_PLACEHOLDERS = {
    "prompt": "6.text",
    "negative_prompt": "7.text",
    "seed": "3.seed",
    "steps": "3.steps",
    "cfg": "3.cfg",
    "width": "5.width",
    "height": "5.height",
    "batch_size": "5.batch_size",
    "checkpoint": "4.ckpt_name",
    "sampler_name": "3.sampler_name",  # written only when configured (setting or deployment option)
    "scheduler": "3.scheduler",
}
PLACEHOLDER_NAMES = frozenset({*DEFAULT_PLACEHOLDERS, "sampler_name", "scheduler", "lora_strength"})
Template = tuple[dict[str, Any], dict[str, str]]  # the graph and its placeholders, checked together


class WorkflowSettings(Protocol):
    """The settings a template is loaded from (ComfyUISettings has them)."""

    @property
    def workflow(self) -> dict[str, Any] | None: ...

    @property
    def workflow_path(self) -> str | None: ...

    @property
    def placeholders(self) -> dict[str, str] | None: ...


def load_workflow(
    settings: WorkflowSettings,
    *,
    bundled: Path = BUNDLED_WORKFLOW,
    defaults: Mapping[str, str] = DEFAULT_PLACEHOLDERS,
    names: frozenset[str] = PLACEHOLDER_NAMES,
) -> Template:
    """The template graph and its placeholder map, validated against each other (`bundled`,
    `defaults` and `names`: the edit template's, adapters/comfyui_edit.py)."""
    if settings.workflow is not None:
        graph: object = settings.workflow
    elif settings.workflow_path is not None:
        try:
            graph = json.loads(Path(settings.workflow_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AdapterSettingsError(f"cannot load workflow: {exc}", "workflow_path") from exc
    else:
        graph = json.loads(bundled.read_text(encoding="utf-8"))
    custom = settings.workflow is not None or settings.workflow_path is not None
    if custom and settings.placeholders is None:
        raise AdapterSettingsError("a custom workflow needs a placeholders mapping", "placeholders")
    placeholders = dict(settings.placeholders or defaults)
    if not isinstance(graph, dict):
        raise AdapterSettingsError("workflow must be an API-format graph object", "workflow")
    for name, target in placeholders.items():
        if name not in names:
            raise AdapterSettingsError(f"unknown placeholder {name!r}", f"placeholders.{name}")
        node, _, field = target.partition(".")
        inputs = graph.get(node, {}).get("inputs") if isinstance(graph.get(node), dict) else None
        if not isinstance(inputs, dict) or not field:
            raise AdapterSettingsError(f"{target!r} does not name a node input", f"placeholders.{name}")
    if "prompt" not in placeholders:
        raise AdapterSettingsError("the prompt placeholder is required", "placeholders")
    return graph, placeholders


def workflow_values(req: ImageRequest, settings: LocalSettings, warnings: list[str]) -> dict[str, Any]:
    """The common fields, with LoRA's weight (0..1) for a `lora_strength` placeholder (e.g. a
    LoraLoader's strength_model), right after the prompt."""
    fields = common_fields(req, settings, warnings)
    if req.lora_strength is None:
        return fields
    return {"prompt": fields.pop("prompt"), "lora_strength": req.lora_strength / 100, **fields}


def encode_prompt(
    graph: Mapping[str, Any],
    placeholders: Mapping[str, str],
    values: Mapping[str, object],
) -> tuple[dict[str, Any], list[str]]:
    """A copy of the graph with each value written to its placeholder; values without one are reported."""
    filled = copy.deepcopy(dict(graph))
    warnings = []
    for name, value in values.items():
        target = placeholders.get(name)
        if target is None:
            warnings.append(f"{name}: this workflow has no placeholder for it; dropped")
            continue
        node, _, field = target.partition(".")
        filled[node]["inputs"][field] = value
    return filled, warnings
