"""Size resolution and step presets shared by every adapter (reference providers.md 4.2 and 4.3).

One function decides what size the caller asked for; small pure snappers fit it to a provider:

    requested_size(req)            width+height > aspect_ratio+resolution > aspect_ratio > resolution
    snap_enumerated(size, options) nearest allowed size by log aspect ratio, then by area
    snap_free(size, limits)        scale into bounds keeping the ratio, round to the multiple, clamp
    nearest_aspect(size, ratios)   nearest allowed aspect ratio (aspect-only endpoints)

Every snapper returns a `Snapped` carrying a warning when the result differs from the request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.canonical import ImageRequest, Quality, Resolution

BASE_LONG_EDGE = 1024
_TIER_LONG_EDGE = {Resolution.R1K: 1024, Resolution.R2K: 2048, Resolution.R4K: 4096}
# Quality as a multiple of the model's default step count (explicit `steps` always wins).
_QUALITY_FACTOR = {Quality.LOW: 0.5, Quality.MEDIUM: 1.0, Quality.HIGH: 1.75}


@dataclass(frozen=True, slots=True)
class Snapped:
    width: int
    height: int
    warning: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


@dataclass(frozen=True, slots=True)
class FreeLimits:
    """A constrained free-size provider: sides in [min_side, max_side], a multiple, optional caps."""

    multiple: int = 8
    min_side: int = 64
    max_side: int = 2048
    max_pixels: int | None = None
    min_pixels: int | None = None  # gpt-image-2: at least 655,360 pixels, whatever the ratio
    max_ratio: float | None = None  # long edge / short edge
    max_short_side: int | None = None


def is_explicit(req: ImageRequest) -> bool:
    """Whether the caller named pixels or a resolution tier (then any change is warned).

    For a bare aspect ratio the pixel count is ours (1024 long edge), so only a ratio change is.
    """
    return req.width is not None or req.height is not None or req.resolution is not None


def requested_size(req: ImageRequest) -> tuple[int, int] | None:
    """The size the caller asked for, or None when the provider's default should apply."""
    if req.width and req.height:
        return req.width, req.height
    long_edge = _TIER_LONG_EDGE[req.resolution] if req.resolution else None
    if req.aspect_ratio:
        w, h = req.aspect_ratio
        side = req.width or req.height
        if side is not None:  # one explicit side plus a ratio: derive the other side
            return (side, max(1, round(side * h / w))) if req.width else (max(1, round(side * w / h)), side)
        edge = long_edge or BASE_LONG_EDGE
        return (edge, max(1, round(edge * h / w))) if w >= h else (max(1, round(edge * w / h)), edge)
    side = req.width or req.height or long_edge
    return (side, side) if side else None


def snap_enumerated(
    size: tuple[int, int], options: list[tuple[int, int]], *, explicit: bool = True
) -> Snapped:
    """The allowed size closest in aspect ratio (log distance), then in area."""
    ratio = math.log(size[0] / size[1])
    area = size[0] * size[1]
    best = min(
        options,
        key=lambda o: (round(abs(math.log(o[0] / o[1]) - ratio), 6), abs(math.log(o[0] * o[1] / area))),
    )
    return _result(size, best, explicit)


def snap_free(size: tuple[int, int], limits: FreeLimits, *, explicit: bool = True) -> Snapped:
    """Scale into the limits keeping the aspect ratio, then round each side to the multiple."""
    w, h = float(size[0]), float(size[1])
    if limits.max_ratio is not None:
        ratio = max(w, h) / min(w, h)
        if ratio > limits.max_ratio:  # shorten the long edge to the allowed ratio
            if w > h:
                w = h * limits.max_ratio
            else:
                h = w * limits.max_ratio
    scale = min(1.0, limits.max_side / max(w, h))
    if limits.max_short_side is not None:
        scale = min(scale, limits.max_short_side / min(w, h))
    if limits.max_pixels is not None:
        scale = min(scale, math.sqrt(limits.max_pixels / (w * h)))
    if scale >= 1.0 and min(w, h) < limits.min_side:  # too small: grow, the clamp below bounds it
        scale = limits.min_side / min(w, h)
    if limits.min_pixels is not None and w * h * scale * scale < limits.min_pixels:
        scale = math.sqrt(limits.min_pixels / (w * h))  # too few pixels: grow keeping the ratio
    w, h = w * scale, h * scale
    return _result(size, _enforce(_fit(w, limits), _fit(h, limits), limits, w / h), explicit)


def nearest_aspect(
    size: tuple[int, int], ratios: list[tuple[int, int]], *, asked: tuple[int, int] | None = None
) -> tuple[tuple[int, int], str | None]:
    """The allowed aspect ratio nearest to the requested size's ratio, with a warning if it differs.

    `asked` is the client's own `aspect_ratio`: the warning names it as sent ("1:3"), not the ratio
    of the pixels derived from it (341x1024 -> "341:1024")."""
    ratio = math.log(size[0] / size[1])
    best = min(ratios, key=lambda r: abs(math.log(r[0] / r[1]) - ratio))
    g = math.gcd(size[0], size[1])
    exact = asked or (size[0] // g, size[1] // g)
    if math.isclose(best[0] / best[1], size[0] / size[1], rel_tol=1e-3):
        return best, None
    return best, f"aspect_ratio: {exact[0]}:{exact[1]} is not supported; used {best[0]}:{best[1]}"


def steps_for_quality(quality: Quality | None, default_steps: int, max_steps: int) -> int | None:
    """A step preset for quality (low≈0.5x, medium=1x, high≈1.75x the default), or None for auto/absent."""
    if quality is None or quality is Quality.AUTO:
        return None
    return max(1, min(max_steps, round(default_steps * _QUALITY_FACTOR[quality])))


def steps_to_send(req: ImageRequest, low: int, high: int, default: int, warnings: list[str]) -> int | None:
    """The step count for a model that takes one: the request's own `steps` clamped into
    [low, high] (a warning says when, and that `quality` is ignored beside it), else the quality
    preset; None: send nothing (the model's default)."""
    if req.steps is None:
        return steps_for_quality(req.quality, default, high)
    steps, warning = clamp("steps", req.steps, low, high)
    warnings.extend([warning] if warning else [])
    if req.quality is not None and req.quality is not Quality.AUTO:
        warnings.append(f"quality: {req.quality.value} ignored because steps is given")
    return int(steps)


def clamp(name: str, value: float, low: float, high: float) -> tuple[float, str | None]:
    """Clamp a numeric field into [low, high]; never rescale silently."""
    if value < low or value > high:
        clamped = min(max(value, low), high)
        return (
            clamped,
            f"{name}: {value:g} is outside {low:g}..{high:g} for this model; clamped to {clamped:g}",
        )
    return value, None


def _enforce(w: int, h: int, limits: FreeLimits, target: float) -> tuple[int, int]:
    """Rounding can overshoot a hard cap (or undershoot `min_pixels`) by one step: move a side by
    the multiple until no rule is broken."""
    m, low = limits.multiple, math.ceil(limits.min_side / limits.multiple) * limits.multiple
    high = math.floor(limits.max_side / m) * m
    for _ in range(10_000):
        too_many = limits.max_pixels is not None and w * h > limits.max_pixels
        too_long = limits.max_ratio is not None and max(w, h) / min(w, h) > limits.max_ratio
        too_wide = limits.max_short_side is not None and min(w, h) > limits.max_short_side
        too_few = limits.min_pixels is not None and w * h < limits.min_pixels
        if too_few and not (too_many or too_long or too_wide):
            # Grow the side that keeps the ratio closest to the request, within the side/ratio caps.
            grown = [
                (cw, ch)
                for cw, ch in ((w + m, h), (w, h + m))
                if max(cw, ch) <= high
                and (limits.max_ratio is None or max(cw, ch) / min(cw, ch) <= limits.max_ratio)
            ]
            if not grown:
                break
            w, h = min(grown, key=lambda c: abs(math.log(c[0] / c[1] / target)))
            continue
        if not (too_many or too_long or too_wide):
            break
        shrink_width = (w >= h) != (too_wide and not (too_many or too_long))
        if shrink_width and w - m >= low:
            w -= m
        elif not shrink_width and h - m >= low:
            h -= m
        else:
            break
    return w, h


def _fit(value: float, limits: FreeLimits) -> int:
    m = limits.multiple
    snapped = math.floor(value / m + 0.5) * m
    low = math.ceil(limits.min_side / m) * m
    high = math.floor(limits.max_side / m) * m
    return int(min(max(snapped, low), high))


def _result(requested: tuple[int, int], final: tuple[int, int], explicit: bool) -> Snapped:
    """Warn when the size changed; for a size derived from a ratio/tier, only when the ratio changed."""
    same_ratio = math.isclose(final[0] / final[1], requested[0] / requested[1], rel_tol=0.02)
    if final == requested or (not explicit and same_ratio):
        return Snapped(final[0], final[1])
    warning = (
        f"size: {requested[0]}x{requested[1]} is not supported by this model; used {final[0]}x{final[1]}"
    )
    return Snapped(final[0], final[1], warning)
