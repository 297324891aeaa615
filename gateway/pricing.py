"""What one provider call costs, from its deployment's `price:` (gateway/config/cost.py), in integer
micro-USD. Pure: no I/O, no floats in the arithmetic (Decimal, rounded up to the micro-dollar).

    call_cost   a call's charge: the images it returned at the price form (per megapixel: at
                each image's decoded size), or what the provider reported (`provider_reported`),
                or — for an ambiguous outcome (the provider may have billed) — the images asked
                at the price form; refusals and failures the provider does not bill cost 0
    unit_max    the most one image of a request can cost at a price (the budget reservation)
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Literal

import msgspec

from gateway.canonical import ImageRequest, ProviderImage, ProviderResult, Quality
from gateway.config.cost import MAX_USD, MICRO, PriceConfig, parse_size, to_micro, to_rate
from gateway.errors import FailureClass

Basis = Literal["table", "provider_reported", "none"]
# Failures after which the provider may have billed: the call was sent and no answer says otherwise.
BILLED_FAILURES = frozenset({FailureClass.AMBIGUOUS})


class CallCost(msgspec.Struct, frozen=True):
    micro: int
    basis: Basis


FREE = CallCost(0, "none")


def call_cost(
    price: PriceConfig | None,
    req: ImageRequest,
    result: ProviderResult | None,
    failure: FailureClass | None,
    *,
    charged_failure: bool = False,
) -> CallCost:
    """The charge of one call that returned `result`, or failed with `failure` (`charged_failure`:
    the caller knows the provider may have billed, e.g. a deadline hit while waiting)."""
    if price is None:
        return FREE
    if result is None:
        if failure in BILLED_FAILURES or charged_failure:
            return CallCost(req.n * unit_max(price, req), "table")
        return CallCost(0, "table")
    reported = _reported(price, result.raw)
    if reported is not None:
        return CallCost(reported, "provider_reported")
    return CallCost(_images_cost(price, req, result.images[: req.n]), "table")


def _images_cost(price: PriceConfig, req: ImageRequest, images: list[ProviderImage]) -> int:
    """Images returned, at the price form. Per megapixel: each image's own size once it is known
    (a finished image carries it, gateway/finishing.py) — what the provider produced and bills,
    e.g. for an aspect-ratio request — else the size asked (or `max_megapixels`)."""
    unit = unit_max(price, req)
    if price.per_megapixel is None:
        return len(images) * unit
    per_mp = Decimal(to_micro(price.per_megapixel))
    total = 0
    for image in images:
        width, height = getattr(image, "width", None), getattr(image, "height", None)
        if isinstance(width, int) and isinstance(height, int):
            total += _ceil(per_mp * Decimal(width * height) / 1_000_000)
        else:
            total += unit
    return total


def unit_max(price: PriceConfig, req: ImageRequest) -> int:
    """One image of `req` at `price` (the table form; provider-reported costs are not known ahead)."""
    if price.per_image is not None:
        return to_micro(price.per_image)
    if price.per_step is not None:
        return to_micro(price.per_step) * (req.steps or price.default_steps)
    if price.per_megapixel is not None:
        per_mp = Decimal(to_micro(price.per_megapixel))
        if req.width is not None and req.height is not None:
            pixels = Decimal(req.width * req.height)
            return _ceil(per_mp * pixels / 1_000_000)
        return _ceil(per_mp * Decimal(str(price.max_megapixels)))
    assert price.table is not None  # PriceConfig allows exactly one form
    return _table_price(price.table, req)


def _table_price(table: dict[str, str | int | float | dict[str, str | int | float]], req: ImageRequest) -> int:
    row = None
    if req.width is not None and req.height is not None:
        row = table.get(f"{req.width}x{req.height}")
    if row is None:
        row = table.get("default")
    rows = [row] if row is not None else [r for k, r in table.items() if parse_size(k) is not None]
    prices: list[int] = []
    for entry in rows:
        if not isinstance(entry, dict):
            prices.append(to_micro(entry))
        elif req.quality is not None and req.quality is not Quality.AUTO and req.quality.value in entry:
            prices.append(to_micro(entry[req.quality.value]))
        else:  # quality left to the provider: the highest it may pick
            prices.extend(to_micro(value) for value in entry.values())
    return max(prices, default=0)


def _reported(price: PriceConfig, raw: dict[str, object]) -> int | None:
    """The provider's own figure at `provider_reported.field`, in micro-USD; None when absent."""
    spec = price.provider_reported
    if spec is None:
        return None
    value: object = raw
    for part in spec.field.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    usd = amount * to_rate(spec.usd_per_unit)  # the bound is on dollars: xAI reports 1e-10 USD ticks
    return None if usd > MAX_USD else _ceil(usd * MICRO)


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def usd_float(micro: int) -> float:
    """For Prometheus only (a counter is a float); never for accounting."""
    return micro / MICRO


__all__ = ["FREE", "Basis", "CallCost", "call_cost", "unit_max", "usd_float"]
