"""Prices (a deployment's `price:`) and budgets (the `budgets:` section) of the routing YAML.

Amounts are written in USD (a string such as "0.04" is exact; a YAML number is read through its
shortest decimal form) and kept as integer micro-USD: nothing in accounting is ever a float.
docs/cost.md is the reference.

    price:                                  one form, plus `provider_reported` optionally
      per_image: "0.04"                     the same price for every image
      table:                                per size ("WxH", or `default` for any other) and quality
        1024x1024: {low: "0.011", medium: "0.042", high: "0.167"}
        default: "0.04"
      per_megapixel: "0.03"                 width x height / 1e6 of each image
      per_step: "0.0002"                    steps of each image (`default_steps` when not asked)
      provider_reported:                    what the provider says it charged, when it says so
        field: submit.cost                  dotted path into the provider body (`raw`)
        usd_per_unit: "0.01"                BFL: 1 credit = $0.01; `usage.cost` in USD: 1; a rate,
                                            so finer than a micro-dollar (xAI: 1 tick = 1e-10 USD)
"""

from __future__ import annotations

import decimal
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

MICRO = 1_000_000
MAX_USD = Decimal(1_000_000)  # a price or budget above a million dollars is a typo
Usd = str | int | float
Period = Literal["hour", "day", "week", "month"]
_QUALITIES = ("low", "medium", "high")


def to_micro(value: Usd, *, what: str = "amount") -> int:
    """USD as written -> integer micro-USD; ValueError (naming `what`) for anything not a plain,
    finite, non-negative amount with at most 6 decimals."""
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a USD amount, got a boolean")
    try:
        amount = Decimal(str(value).strip())
    except decimal.InvalidOperation:
        raise ValueError(f"{what}: {value!r} is not a USD amount") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_USD:
        raise ValueError(f"{what}: {value!r} must be between 0 and {MAX_USD} USD")
    micro = amount * MICRO
    if micro != micro.to_integral_value():
        raise ValueError(f"{what}: {value!r} has more than 6 decimals (micro-USD is the unit)")
    return int(micro)


def to_rate(value: Usd, *, what: str = "usd_per_unit") -> Decimal:
    """USD per provider unit as written -> Decimal; a rate may be finer than a micro-dollar (xAI
    ticks are 1e-10 USD, Replicate bills fractions of a cent per second), at most 12 decimals."""
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a USD amount, got a boolean")
    try:
        rate = Decimal(str(value).strip())
    except decimal.InvalidOperation:
        raise ValueError(f"{what}: {value!r} is not a USD amount") from None
    if not rate.is_finite() or rate < 0 or rate > MAX_USD:
        raise ValueError(f"{what}: {value!r} must be between 0 and {MAX_USD} USD")
    if rate != rate.quantize(Decimal("1e-12"), rounding=decimal.ROUND_DOWN):
        raise ValueError(f"{what}: {value!r} has more than 12 decimals")
    return rate


def format_usd(micro: int) -> str:
    """Integer micro-USD -> "0.040000" (exactly 6 decimals; a leading "-" when negative)."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO)
    return f"{sign}{whole}.{frac:06d}"


def parse_size(key: str) -> tuple[int, int] | None:
    width, sep, height = key.partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        return None
    return int(width), int(height)


class ProviderReported(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A cost the provider's body states: `field` is a dotted path into the call's `raw` body."""

    field: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    usd_per_unit: Usd = 1

    def __post_init__(self) -> None:
        to_rate(self.usd_per_unit)


class PriceConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    per_image: Usd | None = None
    table: dict[str, Usd | dict[str, Usd]] | None = None
    per_megapixel: Usd | None = None
    per_step: Usd | None = None
    default_steps: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 30  # per_step, when steps not asked
    max_megapixels: Annotated[float, msgspec.Meta(gt=0, le=1000)] = 4.0  # per_megapixel, size not asked
    provider_reported: ProviderReported | None = None

    def __post_init__(self) -> None:
        forms = [f for f in ("per_image", "table", "per_megapixel", "per_step") if getattr(self, f) is not None]
        if len(forms) != 1:
            raise ValueError(
                "expected exactly one of per_image, table, per_megapixel, per_step"
                + (f" (got {', '.join(forms)})" if forms else "; provider_reported needs one as the fallback")
            )
        for name in ("per_image", "per_megapixel", "per_step"):
            value = getattr(self, name)
            if value is not None:
                to_micro(value, what=name)
        for size, row in (self.table or {}).items():
            if size != "default" and parse_size(size) is None:
                raise ValueError(f"table.{size}: expected a size WIDTHxHEIGHT or `default`")
            if isinstance(row, dict):
                if not row:
                    raise ValueError(f"table.{size}: expected a price or qualities low/medium/high")
                for quality, value in row.items():
                    if quality not in _QUALITIES:
                        raise ValueError(f"table.{size}.{quality}: expected one of {', '.join(_QUALITIES)}")
                    to_micro(value, what=f"table.{size}.{quality}")
            else:
                to_micro(row, what=f"table.{size}")
        if self.table is not None and not self.table:
            raise ValueError("table: expected at least one size")


class AccountBudget(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an account may spend: an allowance per period and/or its prepaid balance (credited by
    `imagegate balance credit`). Neither: the account can spend nothing."""

    allowance_usd: Usd | None = None
    period: Period = "day"
    prepaid: bool = True  # draw on the account's prepaid balance once the allowance is used

    def __post_init__(self) -> None:
        if self.allowance_usd is not None:
            to_micro(self.allowance_usd, what="allowance_usd")

    @property
    def allowance_micro(self) -> int | None:
        return None if self.allowance_usd is None else to_micro(self.allowance_usd)


class BudgetsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Present: every authenticated request reserves its maximum cost first (docs/cost.md)."""

    enabled: bool = True
    default: AccountBudget = msgspec.field(default_factory=AccountBudget)
    accounts: dict[str, AccountBudget] = msgspec.field(default_factory=dict)
    # A reservation outlives the request's deadline by this much, then expires (a replica that died).
    reservation_grace_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0

    def for_account(self, account: str) -> AccountBudget:
        """The account's own budget (EVM addresses compared case-insensitively), else `default`."""
        if account in self.accounts:
            return self.accounts[account]
        if account.startswith("eip155:"):
            wanted = account.lower()
            return next((b for name, b in self.accounts.items() if name.lower() == wanted), self.default)
        return self.default
