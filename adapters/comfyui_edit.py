"""ComfyUI edits: the edit workflow template, the uploads it needs, and the graph to queue.

An edit is two steps (adapters/comfyui.py `ComfyUIAdapter.edit`): every input is uploaded with
`POST /upload/image` (multipart, `gateway.upstream.send(files=...)`), then the edit template is
queued with the names ComfyUI answered written into its placeholders — `image` (the base image's
LoadImage), `image_2`, ... (references), `mask` (a LoadImageMask) — and run like a generate prompt.

The template is the operator's (`edit_workflow` inline or `edit_workflow_path`, with
`edit_placeholders`, checked when the adapter is built) or the bundled img2img/inpaint graph
(comfyui_edit_workflow.json: LoadImage -> ImageScale -> VAEEncode -> SetLatentNoiseMask(LoadImageMask)
-> KSampler(denoise) -> SaveImage). The mask is uploaded converted to a grayscale PNG, white = edit
(canonical alpha 0), so LoadImageMask must read channel **red** (any of red/green/blue reads the
same value; `alpha` would read nothing). Without a mask, a template with a `mask` placeholder gets an
all-white mask of the base image's size: the whole picture is re-noised, i.e. plain img2img.

Upload names are content-addressed (`imagegate-image-<sha256>.png`) and sent with `overwrite`, so
a retry re-uploads the same name and two requests never share a file by accident. Everything here
but `upload` is pure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import msgspec

from adapters import comfyui_workflow
from adapters.base import AdapterSettingsError
from adapters.comfyui_translate import template_values
from adapters.edit_inputs import base_size, full_mask, too_many, unsupported, upload_name, white_is_edit
from adapters.local_common import LocalSettings, SamplerOptions, size_limits
from gateway import sizing, upstream
from gateway.canonical import ImageRequest
from gateway.errors import FailureClass, ProviderError

BUNDLED_EDIT_WORKFLOW = Path(__file__).with_name("comfyui_edit_workflow.json")
MAX_REFERENCES = 16  # image-edit.md: at most 16 inputs
IMAGE_SLOTS = ("image", *(f"image_{i}" for i in range(2, MAX_REFERENCES + 1)))
DEFAULT_EDIT_PLACEHOLDERS = {
    "prompt": "6.text",
    "negative_prompt": "7.text",
    "seed": "3.seed",
    "steps": "3.steps",
    "cfg": "3.cfg",
    "strength": "3.denoise",
    "checkpoint": "4.ckpt_name",
    "sampler_name": "3.sampler_name",
    "scheduler": "3.scheduler",
    "image": "10.image",
    "width": "11.width",
    "height": "11.height",
    "mask": "13.image",
}
EDIT_PLACEHOLDER_NAMES = frozenset(
    {*comfyui_workflow.PLACEHOLDER_NAMES - {"batch_size"}, "strength", "mask", *IMAGE_SLOTS}
)
MASK_CHANNEL = "red"


@dataclass(frozen=True, slots=True)
class Upload:
    """One file to POST to /upload/image, and the placeholder its (answered) name goes to."""

    placeholder: str
    filename: str
    data: bytes
    content_type: str


class EditWorkflowSettings(Protocol):
    """The settings the edit template is loaded from (ComfyUISettings has them)."""

    @property
    def edit_workflow(self) -> dict[str, Any] | None: ...

    @property
    def edit_workflow_path(self) -> str | None: ...

    @property
    def edit_placeholders(self) -> dict[str, str] | None: ...


@dataclass(frozen=True, slots=True)
class _EditWorkflow:
    edit_workflow: dict[str, Any] | None
    edit_workflow_path: str | None
    edit_placeholders: dict[str, str] | None

    @property
    def workflow(self) -> dict[str, Any] | None:
        return self.edit_workflow

    @property
    def workflow_path(self) -> str | None:
        return self.edit_workflow_path

    @property
    def placeholders(self) -> dict[str, str] | None:
        return self.edit_placeholders


def load_edit_workflow(settings: EditWorkflowSettings) -> comfyui_workflow.Template:
    """The edit template (the operator's, else the bundled one), checked like the generate one;
    errors name the `edit_*` setting. It needs the `prompt` and `image` placeholders."""
    source = _EditWorkflow(settings.edit_workflow, settings.edit_workflow_path, settings.edit_placeholders)
    try:
        graph, placeholders = comfyui_workflow.load_workflow(
            source,
            bundled=BUNDLED_EDIT_WORKFLOW,
            defaults=DEFAULT_EDIT_PLACEHOLDERS,
            names=EDIT_PLACEHOLDER_NAMES,
        )
    except AdapterSettingsError as exc:
        raise AdapterSettingsError(
            str(exc), f"edit_{exc.path}" if exc.path else "edit_placeholders"
        ) from None
    if "image" not in placeholders:
        raise AdapterSettingsError("an edit workflow needs the image placeholder", "edit_placeholders")
    return graph, placeholders


def max_inputs(template: comfyui_workflow.Template) -> int:
    """How many input images the template takes: its image, image_2, ... placeholders in a row."""
    count = 0
    while count < len(IMAGE_SLOTS) and IMAGE_SLOTS[count] in template[1]:
        count += 1
    return count


def plan_uploads(req: ImageRequest, template: comfyui_workflow.Template) -> tuple[list[Upload], list[str]]:
    """The files to upload (pure, deterministic), and the warnings of the mask conversion. A
    request ComfyUI cannot take is refused here, before anything is uploaded."""
    if req.n != 1:
        raise ProviderError("comfyui", FailureClass.CALLER_FAULT, "comfyui makes one image per call")
    refused = too_many("comfyui", req, max_inputs(template), what="this comfyui edit workflow")
    if refused is not None:
        raise refused
    uploads = [
        Upload(slot, upload_name(image.data, image.media_type), image.data, image.media_type)
        for slot, image in zip(IMAGE_SLOTS, req.images, strict=False)
    ]
    warnings: list[str] = []
    if "mask" in template[1]:
        if req.mask is not None:
            mask, warnings = white_is_edit("comfyui", req.mask)
        else:
            mask = full_mask(*base_size(req))
        uploads.append(Upload("mask", upload_name(mask, "image/png", kind="mask"), mask, "image/png"))
    elif req.mask is not None:
        warnings.append("mask: this edit workflow has no mask placeholder; dropped")
    return uploads, warnings


def encode_edit(
    req: ImageRequest,
    *,
    model: str,
    settings: LocalSettings,
    template: comfyui_workflow.Template,
    names: Mapping[str, str],
    options: SamplerOptions,
) -> tuple[dict[str, Any], list[str]]:
    """The edit graph: the template with the uploaded `names` (placeholder -> the name ComfyUI
    answered) and every value written; `req.seed` is set (the adapter draws one first)."""
    if req.n != 1:
        raise ProviderError("comfyui", FailureClass.CALLER_FAULT, "comfyui makes one image per call")
    plain = msgspec.structs.replace(
        req, images=(), mask=None, strength=None, prompt_extend=None, watermark=None
    )
    if sizing.requested_size(req) is None:  # keep the base image's size (snapped silently: none was asked)
        width, height = sizing.snap_free(base_size(req), size_limits(settings), explicit=False).size
        plain = msgspec.structs.replace(plain, width=width, height=height)
    values, warnings = template_values(
        plain, model=model, settings=settings, template=template, options=options
    )
    if req.strength is not None:
        values["strength"] = req.strength
    values |= dict(names)
    filled, dropped = comfyui_workflow.encode_prompt(template[0], template[1], values)
    return filled, warnings + dropped + unsupported(req, by="comfyui", strength=True, prompt_extend=False)


Send = Callable[..., Awaitable[Any]]


async def upload(send: Send, provider: str, item: Upload) -> str:
    """POST one file to /upload/image; the name to reference: `subfolder/name` as ComfyUI answered
    (it may rename a file it already has)."""
    response = await send(
        "POST",
        "/upload/image",
        files={"image": (item.filename, item.data, item.content_type)},
        data={"type": "input", "overwrite": "true"},
        what="upload",
    )
    if response.status_code != 200:
        failure = upstream.status_failure(response.status_code)
        message = f"comfyui upload HTTP {response.status_code}"
        raise ProviderError(provider, failure, message, status=response.status_code)
    answer = upstream.decode_json(provider, response, what="upload response")
    name = answer.get("name") if isinstance(answer, dict) else None
    if not isinstance(name, str) or not name:
        raise ProviderError(provider, FailureClass.UPSTREAM_INVALID, "comfyui upload answered no name")
    subfolder = answer.get("subfolder")
    return f"{subfolder}/{name}" if isinstance(subfolder, str) and subfolder else name
