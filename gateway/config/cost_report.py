"""`check-config`'s view of prices and budgets: each deployment's price form, the deployments
without a price (their calls cost 0 with basis `none`, and reserve nothing), and the budgets."""

from __future__ import annotations

from gateway.config.cost import PriceConfig, format_usd, to_micro
from gateway.config.routing import RoutingConfig


def describe_prices(config: RoutingConfig) -> list[str]:
    lines = ["prices:"]
    unpriced: list[str] = []
    for slug, model in config.models.items():
        for i, deployment in enumerate(model.deployments):
            label = f"{slug}[{i}] {deployment.provider}/{deployment.model}"
            if deployment.price is None:
                unpriced.append(label)
            else:
                lines.append(f"  {label}: {price_form(deployment.price)}")
    if unpriced:
        lines.append(f"deployments without a price ({len(unpriced)}; their calls cost 0, basis none):")
        lines.extend(f"  {label}" for label in unpriced)
    budgets = config.budgets
    if budgets is None or not budgets.enabled:
        lines.append("budgets: off")
    else:
        default = budgets.default
        allowance = "none" if default.allowance_micro is None else f"{format_usd(default.allowance_micro)} USD per {default.period}"
        lines.append(f"budgets: default allowance {allowance}, prepaid {'yes' if default.prepaid else 'no'}")
        lines.append(f"  accounts with their own budget: {len(budgets.accounts)}")
    return lines


def price_form(price: PriceConfig) -> str:
    if price.per_image is not None:
        form = f"per image {format_usd(to_micro(price.per_image))} USD"
    elif price.per_megapixel is not None:
        form = f"per megapixel {format_usd(to_micro(price.per_megapixel))} USD"
    elif price.per_step is not None:
        form = f"per step {format_usd(to_micro(price.per_step))} USD (default {price.default_steps} steps)"
    else:
        form = f"table of {len(price.table or {})} sizes"
    if price.provider_reported is not None:
        form = f"provider-reported `{price.provider_reported.field}`, else {form}"
    return form
