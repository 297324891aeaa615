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
    url_timeout_seconds: Annotated[float, msgspec.Meta(gt=0, le=300)] = 15.0  # one URL input, whole fetch
    url_max_redirects: Annotated[int, msgspec.Meta(ge=0, le=10)] = 3


class EditRouteConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`models.<slug>.edit:`. With a mask, a deployment that cannot take one is skipped unless
    `mask_required_on_fallback: false`, which lets it edit without the mask (with a warning)."""

    mask_required_on_fallback: bool = True
