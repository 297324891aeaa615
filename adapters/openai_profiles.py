"""OpenAI-compatible dialects of the `openai` adapter, pure: the per-family rules Struct shared with
adapters/openai_translate.py, and the profile table (`settings.profile`: xai, recraft, seedream,
openrouter, vllm-omni, ollama, localai, sdcpp) that says, per server, its size syntax, what it
answers by default (URL vs base64), where extra fields go (body keys or prompt-embedded), its
watermark switch and the models it cannot serve. The table is data: adapters/openai_profiles.json.
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any, Literal

import msgspec

from gateway import sizing
from gateway.canonical import ImageRequest
from gateway.errors import FailureClass, ProviderError


class FamilySpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One family's (or profile's) size, count and prompt rules."""

    max_n: int
    prompt_max: int
    source: str = ""  # the public document these rules were checked against
    sizes: list[tuple[int, int]] | None = None  # enumerated sizes, or None for constrained free sizes
    limits: sizing.FreeLimits | None = None
    url_responses: bool = True  # DALL·E-style `response_format`
    native_formats: bool = False  # GPT image `output_format`
    edit_source: str = ""  # the public document the edit rules were checked against
    edit_max_images: int = 0  # images per /images/edits call (0: this family cannot edit)
    edit_mask: bool = False


# Canonical fields a profile may carry as extras (the rest: warnings, as for OpenAI itself).
ExtraField = Literal["negative_prompt", "seed", "steps", "guide_scale", "style_preset"]


class Profile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    source: str
    family: FamilySpec
    size: Literal["size", "aspect"]  # `size: WxH`, or `aspect_ratio: W:H` (+ a resolution tier)
    quirks: str = ""
    base_url: str | None = None  # the hosted service's default; local servers have none
    path: str = "/images/generations"
    aspect_ratios: list[tuple[int, int]] | None = None
    tiers: dict[str, str] | None = None  # canonical resolution (1K/2K/4K) -> the server's tier
    tier_field: str = "resolution"  # where a tier goes (seedream: in `size` itself)
    send_n: bool = True  # false: the server has no `n` (family max_n is 1: fanned out)
    send_user: bool = True
    response_format: str | None = None  # sent as `response_format`; None: the server is base64 anyway
    extras: dict[ExtraField, str] = msgspec.field(default_factory=dict)  # field -> body key (dotted)
    extras_in: Literal["body", "prompt"] = "body"
    negative_in_prompt: str | None = None  # LocalAI: "positive|negative"
    fixed: dict[str, Any] = msgspec.field(default_factory=dict)  # always sent
    watermark_field: str | None = None  # sent as `not hide_watermark` when the request says
    refuse_models: list[str] = msgspec.field(default_factory=list)  # glob patterns
    download_hosts: list[str] = msgspec.field(default_factory=list)
    empty_is_moderation: bool = False  # a 200 with no images means "moderated"
    edit: bool = False  # upstream edit endpoint exists (documented; not wired: capability edit false)


class _Table(msgspec.Struct, frozen=True):
    profiles: dict[str, Profile]


PROFILES = msgspec.json.decode(
    Path(__file__).with_name("openai_profiles.json").read_bytes(), type=_Table
).profiles
PROFILE_NAMES = tuple(sorted(PROFILES))
SDCPP_TAG = "sd_cpp_extra_args"


def check_model(name: str, profile: Profile, model: str) -> None:
    """A model the dialect cannot serve (Recraft vector models answer SVG): MODEL_UNAVAILABLE before
    any I/O, so the chain falls back instead of paying for an image it cannot deliver."""
    for pattern in profile.refuse_models:
        if fnmatch.fnmatch(model.lower(), pattern):
            raise ProviderError(
                "openai",
                FailureClass.MODEL_UNAVAILABLE,
                f"{name} model {model} is not servable through the {name} profile (it answers SVG, "
                "not png/jpeg/webp); deploy a raster model",
            )


def aspect_size(req: ImageRequest, profile: Profile, body: dict[str, Any], warnings: list[str]) -> None:
    """`aspect_ratio` (nearest allowed) plus the resolution tier, for aspect-only dialects."""
    wanted = sizing.requested_size(req)
    if wanted is None or not profile.aspect_ratios:
        return
    ratio, warning = sizing.nearest_aspect(wanted, profile.aspect_ratios, asked=req.aspect_ratio)
    body["aspect_ratio"] = f"{ratio[0]}:{ratio[1]}"
    if warning:
        warnings.append(warning)
    if req.width or req.height:
        warnings.append("size: this server takes an aspect ratio (and resolution tier); width/height not sent")
    if req.resolution is not None:
        tier(req, profile, body, warnings)


def tier(req: ImageRequest, profile: Profile, body: dict[str, Any], warnings: list[str]) -> None:
    """The request's resolution as the server's tier; the nearest lower one when it has no such tier."""
    if req.resolution is None:
        return
    tiers = profile.tiers or {}
    asked = req.resolution.value
    if asked in tiers:
        body[profile.tier_field] = tiers[asked]
        return
    lower = [t for t in sorted(tiers) if t <= asked] or sorted(tiers)
    if lower:
        body[profile.tier_field] = tiers[lower[-1]]
        warnings.append(f"resolution: {asked} is not offered by this server; used {lower[-1]}")
    else:
        warnings.append(f"resolution: {asked} is not offered by this server; dropped")


def extras(req: ImageRequest, profile: Profile, body: dict[str, Any]) -> set[str]:
    """The profile's extra fields the request sets, in the body (dotted keys nest) or embedded in
    the prompt; returns the canonical names carried (no `dropped` warning for them)."""
    values: dict[str, object] = {
        "negative_prompt": req.negative_prompt,
        "seed": req.seed,
        "steps": req.steps,
        "guide_scale": req.guide_scale,
        "style_preset": req.style_preset,
    }
    carried: set[str] = set()
    embedded: dict[str, Any] = {}
    target = embedded if profile.extras_in == "prompt" else body
    for field, key in profile.extras.items():
        value = values[field]
        if value is None:
            continue
        node = target
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
        carried.add(field)
    if embedded:
        body["prompt"] = f"{body['prompt']} <{SDCPP_TAG}>{json.dumps(embedded, sort_keys=True)}</{SDCPP_TAG}>"
    if profile.negative_in_prompt and req.negative_prompt is not None:
        body["prompt"] = f"{body['prompt']}{profile.negative_in_prompt}{req.negative_prompt}"
        carried.add("negative_prompt")
    return carried


def watermark(req: ImageRequest, profile: Profile, body: dict[str, Any]) -> None:
    if profile.watermark_field and req.hide_watermark is not None:
        body[profile.watermark_field] = not req.hide_watermark
