"""ComfyUI, pure: settings, the generate graph (`encode_request`; the edit graph is
adapters/comfyui_edit.py), history entries -> `/view` references, finished-with-error entries and
HTTP errors -> `ProviderError`. adapters/comfyui.py does the I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from adapters.base import decode_options
from adapters.comfyui_workflow import Template, encode_prompt, workflow_values
from adapters.local_common import LocalSettings, SamplerOptions, sampler_fields
from gateway import upstream
from gateway.canonical import ImageRequest
from gateway.errors import FailureClass, ProviderError


class ComfyUISettings(LocalSettings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    workflow: dict[str, Any] | None = None  # API-format graph (else workflow_path, else the bundled one)
    workflow_path: str | None = None
    placeholders: dict[str, str] | None = None  # canonical name -> "node_id.input"
    # Edits (adapters/comfyui_edit.py): the img2img/inpaint template, else the bundled one.
    edit_workflow: dict[str, Any] | None = None
    edit_workflow_path: str | None = None
    edit_placeholders: dict[str, str] | None = None  # + image, image_2.., mask, strength
    max_poll_errors: int = 3  # consecutive failed /history polls (and /view fetches) tolerated
    max_download_bytes: int = 50 * 1024 * 1024


class ComfyUIOptions(SamplerOptions, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-deployment `options:` for comfyui: the `sampler_name` / `scheduler` placeholders."""


def encode_request(
    req: ImageRequest,
    *,
    model: str,
    settings: ComfyUISettings,
    template: Template,
    options: SamplerOptions | Mapping[str, object] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The graph to queue (the template with every value written) and the warnings; `req.seed` is
    set (the adapter draws one first: the KSampler needs it)."""
    if req.n != 1:
        raise ProviderError("comfyui", FailureClass.CALLER_FAULT, "comfyui makes one image per call")
    values, warnings = template_values(
        req, model=model, settings=settings, template=template, options=options
    )
    filled, dropped = encode_prompt(template[0], template[1], values | {"batch_size": 1})
    return filled, warnings + dropped


def template_values(
    req: ImageRequest,
    *,
    model: str,
    settings: LocalSettings,
    template: Template,
    options: SamplerOptions | Mapping[str, object] | None,
) -> tuple[dict[str, Any], list[str]]:
    """The placeholder values a generate and an edit graph share (prompt, size, steps, cfg, LoRA,
    sampler, seed, negative prompt, checkpoint) and the warnings for what neither carries."""
    warnings: list[str] = []
    values = workflow_values(req, settings, warnings)
    opts = options if isinstance(options, SamplerOptions) else decode_options(ComfyUIOptions, options)
    values |= sampler_fields(settings, opts)
    if req.style_preset is not None:
        warnings.append("style_preset: not supported by comfyui; dropped")
    values["seed"] = req.seed
    if req.negative_prompt is not None:
        values["negative_prompt"] = req.negative_prompt
    if model and "checkpoint" in template[1]:
        values["checkpoint"] = model
    return values, warnings


def decode_response(entry: Mapping[str, Any]) -> list[dict[str, str]]:
    """`/view` query parameters for every saved (type "output") image of a history entry, in node order."""
    refs = []
    outputs = entry.get("outputs")
    for node_output in (outputs or {}).values() if isinstance(outputs, dict) else []:
        for image in node_output.get("images", []) if isinstance(node_output, dict) else []:
            if isinstance(image, dict) and image.get("type", "output") == "output" and image.get("filename"):
                folder = str(image.get("subfolder", ""))
                refs.append({"filename": str(image["filename"]), "subfolder": folder, "type": "output"})
    return refs


def classify_history(provider: str, entry: Mapping[str, Any]) -> ProviderError | None:
    """A finished history entry with `status_str: error` -> TRANSIENT (execution failed, e.g. OOM)."""
    status = entry.get("status")
    if not isinstance(status, dict) or status.get("status_str") != "error":
        return None
    exception_type = None
    for message in status.get("messages", []):
        if isinstance(message, list) and len(message) == 2 and message[0] == "execution_error":
            data = message[1] if isinstance(message[1], dict) else {}
            exception_type = data.get("exception_type")
    code = exception_type if isinstance(exception_type, str) else None
    message = "comfyui execution failed" + (f" ({code})" if code else "")
    return ProviderError(
        provider, FailureClass.TRANSIENT, message, status=200, provider_code=code or "execution_error"
    )


def classify_error(status: int, headers: httpx.Headers, body: bytes) -> ProviderError:
    """POST /prompt errors: 400 `{error: {type}, node_errors}` is our template or values at fault."""
    parsed = upstream.parse_error_body(body)
    error = parsed.get("error") if isinstance(parsed, dict) else None
    code = error.get("type") if isinstance(error, dict) else error if isinstance(error, str) else None
    failure = upstream.status_failure(status)
    nodes = parsed.get("node_errors") if isinstance(parsed, dict) else None
    message = f"comfyui HTTP {status}" + (f" ({code})" if isinstance(code, str) else "")
    if isinstance(nodes, dict) and nodes:
        message += f" in nodes {sorted(nodes)}"
    retry = upstream.retry_hint(failure, headers)
    code = code if isinstance(code, str) else None
    # The executor stamps the deployment's provider name on every ProviderError.
    return ProviderError("comfyui", failure, message, status=status, retry_after=retry, provider_code=code)
