"""Which deployments can perform an edit (spec/image-edit.md "Routing"), from each adapter's
`edit` method and capabilities: edit support, maximum input images, mask support.

A deployment that cannot do the requested edit is skipped and named in a warning. With a mask, a
deployment without mask support is skipped too, unless the route says
`edit.mask_required_on_fallback: false`: then it edits without the mask (dropped, with a warning).
"""

from __future__ import annotations

import msgspec

from gateway.canonical import Capabilities, ImageRequest, Operation
from gateway.routing.strategy import operation_of
from gateway.runtime import Deployment


def why_not(caps: Capabilities, images: int, mask: bool, *, mask_required: bool) -> str | None:
    """Why a deployment with `caps` cannot do this edit, or None when it can."""
    if not caps.edit:
        return "cannot edit"
    if images > caps.max_input_images:
        return f"takes at most {caps.max_input_images} input image(s), {images} given"
    if mask and not caps.edit_mask and mask_required:
        return "cannot take a mask"
    return None


def edit_chain(
    chain: list[Deployment], images: int, mask: bool, *, mask_required: bool
) -> tuple[list[Deployment], list[str]]:
    """The deployments that can do the edit, and a warning for each one skipped."""
    kept: list[Deployment] = []
    warnings: list[str] = []
    for deployment in chain:
        reason = _why_not(deployment, images, mask, mask_required=mask_required)
        if reason is None:
            kept.append(deployment)
        else:
            warnings.append(f"deployment {deployment.label} skipped: {reason}")
    return kept, warnings


def refusal(
    chain: list[Deployment], slug: str, images: int, mask: bool, *, mask_required: bool
) -> tuple[str, str] | None:
    """(message, param) when no deployment of the chain can do this edit; None when one can."""
    if edit_chain(chain, images, mask, mask_required=mask_required)[0]:
        return None
    editing = [d for d in chain if _why_not(d, 1, False, mask_required=False) is None]
    if not editing:
        return f"model {slug!r} has no deployment that can edit images", "model"
    most = max(_caps(d).max_input_images for d in editing)
    if images > most:
        return f"model {slug!r} takes at most {most} input image(s) for an edit; {images} given", "images"
    return f"no deployment of model {slug!r} can edit with a mask", "mask"


def for_deployment(deployment: Deployment, req: ImageRequest) -> tuple[ImageRequest, str | None]:
    """The request as this deployment gets it: without the mask (and a warning) when it has no
    mask support (the chain kept it only because the route allows that)."""
    if req.mask is None or _caps(deployment).edit_mask:
        return req, None
    return msgspec.structs.replace(req, mask=None), f"mask: not supported by {deployment.label}; dropped"


def _why_not(deployment: Deployment, images: int, mask: bool, *, mask_required: bool) -> str | None:
    if operation_of(deployment, Operation.EDIT) is None:  # the adapter has no `edit` method
        return "cannot edit"
    return why_not(_caps(deployment), images, mask, mask_required=mask_required)


def _caps(deployment: Deployment) -> Capabilities:
    return deployment.adapter.capabilities(deployment.config.model)
