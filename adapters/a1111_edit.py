"""AUTOMATIC1111 img2img, pure: what an edit adds to the txt2img body (adapters/a1111.py
`encode_edit` joins the two) for `POST /sdapi/v1/img2img`.

- `init_images`: the base image, base64 (A1111 takes one init image per job here);
- `mask`: the canonical mask (alpha 0 = edit) as a grayscale PNG, white = edit, black = keep —
  A1111's own reading of an RGBA mask is alpha *high* = inpaint, so it is never sent as it came;
- `denoising_strength` from `strength` (absent: A1111's default, 0.75);
- inpainting: `inpainting_fill` 1 (start from the original pixels), `inpaint_full_res` false
  (whole picture, so the output keeps the base image's framing), `mask_blur` 4,
  `inpainting_mask_invert` 0;
- width/height: the request's, else the base image's size (snapped to A1111's multiple of 8) —
  A1111's own img2img default is 512x512, whatever the input.
"""

from __future__ import annotations

from typing import Any

import msgspec

from adapters.edit_inputs import b64, base_size, too_many, unsupported, white_is_edit
from gateway import sizing
from gateway.canonical import ImageRequest

INPAINTING_FILL_ORIGINAL = 1  # 0 fill, 1 original, 2 latent noise, 3 latent nothing
INPAINT_DEFAULTS: dict[str, Any] = {
    "inpainting_fill": INPAINTING_FILL_ORIGINAL,
    "inpaint_full_res": False,
    "mask_blur": 4,
    "inpainting_mask_invert": 0,
}


def generate_part(req: ImageRequest, limits: sizing.FreeLimits) -> ImageRequest:
    """The request the txt2img encoder sees: no edit fields, and the base image's size (snapped
    here, silently: the client named no size) when the client asked for none."""
    plain = msgspec.structs.replace(req, images=(), mask=None, strength=None, prompt_extend=None, watermark=None)
    if sizing.requested_size(req) is None and req.images:
        width, height = sizing.snap_free(base_size(req), limits, explicit=False).size
        plain = msgspec.structs.replace(plain, width=width, height=height)
    return plain


def img2img_fields(req: ImageRequest) -> tuple[dict[str, Any], list[str]]:
    """The img2img-only fields of the body, and the warnings for the edit fields A1111 cannot carry."""
    refused = too_many("a1111", req, 1, what="a1111 img2img")
    if refused is not None:
        raise refused
    fields: dict[str, Any] = {"init_images": [b64(req.images[0].data)], "resize_mode": 0}
    warnings: list[str] = []
    if req.strength is not None:
        fields["denoising_strength"] = req.strength
    if req.mask is not None:
        mask, mask_warnings = white_is_edit("a1111", req.mask)
        fields["mask"] = b64(mask)
        fields.update(INPAINT_DEFAULTS)
        warnings.extend(mask_warnings)
    warnings.extend(unsupported(req, by="a1111", strength=True, prompt_extend=False))
    return fields, warnings

