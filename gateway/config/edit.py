"""The edit endpoint's settings (spec/image-edit.md): `server.edit:` (input limits) and a model's
`edit:` (how its deployment chain treats a mask)."""

from __future__ import annotations

from typing import Annotated

import msgspec

MIB = 1024 * 1024


class EditInputsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`server.edit:`: what POST /api/v1/image/edit accepts before any provider work."""

    max_body_bytes: Annotated[int, msgspec.Meta(ge=1024, le=2**31)] = 64 * MIB  # this route's body cap
    max_image_bytes: Annotated[int, msgspec.Meta(ge=1024, le=2**31)] = 20 * MIB  # each input (and mask)
    max_image_side: Annotated[int, msgspec.Meta(ge=64, le=16384)] = 8192  # read from the header
    # Across every input and the mask of one request (docs/limits.md): proving that inputs decode
    # costs CPU and memory by the pixel, and URL inputs cost bandwidth by the byte. Pixels are
    # summed from the headers before anything is decoded; the default is one input at the side
    # limit plus its mask (same size), not 17 of them. Bytes: data URLs, files and fetched URLs
    # together (a URL fetch stops as the running total passes it); the default is the body cap.
    max_total_pixels: Annotated[int, msgspec.Meta(ge=4096, le=2**36)] = 2 * 8192 * 8192
    max_total_bytes: Annotated[int, msgspec.Meta(ge=1024, le=2**33)] = 64 * MIB
    url_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=300)] = 15.0  # one URL input, whole fetch
    url_max_redirects: Annotated[int, msgspec.Meta(ge=0, le=10)] = 3


class EditRouteConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`models.<slug>.edit:`. With a mask, a deployment that cannot take one is skipped unless
    `mask_required_on_fallback: false`, which lets it edit without the mask (with a warning)."""

    mask_required_on_fallback: bool = True
