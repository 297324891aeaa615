"""Price forms, the config errors that name their path, and what a call costs per outcome."""

from __future__ import annotations

import pytest

from gateway.canonical import ImageRequest, OutputFormat, ProviderImage, ProviderResult, Quality
from gateway.config import ConfigError, parse_config
from gateway.config.cost import PriceConfig, ProviderReported, format_usd, to_micro
from gateway.errors import FailureClass
from gateway.finishing import CheckedImage
from gateway.pricing import call_cost, unit_max

TABLE = PriceConfig(
    table={"1024x1024": {"low": "0.011", "medium": "0.042", "high": "0.167"}, "1536x1024": "0.063", "default": "0.05"}
)


def req(**fields: object) -> ImageRequest:
    return ImageRequest(model="m", prompt="p", **fields)  # type: ignore[arg-type]


def result(images: int, raw: dict[str, object] | None = None) -> ProviderResult:
    return ProviderResult(images=[ProviderImage(data=b"x") for _ in range(images)], raw=raw or {})


def test_amounts_are_integer_micro_usd() -> None:
    assert to_micro("0.04") == 40_000
    assert to_micro(0.1) == 100_000  # a YAML float is read through its shortest decimal form
    assert to_micro(2) == 2_000_000
    assert format_usd(40_000) == "0.040000" and format_usd(12_345_678) == "12.345678"
    for bad in ("0.0000001", "-1", "nan", "inf", "abc", "2000000"):
        with pytest.raises(ValueError):
            to_micro(bad)


def test_table_by_size_and_quality() -> None:
    assert unit_max(TABLE, req(width=1024, height=1024, quality=Quality.LOW)) == 11_000
    assert unit_max(TABLE, req(width=1024, height=1024, quality=Quality.HIGH)) == 167_000
    assert unit_max(TABLE, req(width=1024, height=1024)) == 167_000  # quality left open: the highest
    assert unit_max(TABLE, req(width=1536, height=1024, quality=Quality.LOW)) == 63_000
    assert unit_max(TABLE, req(width=512, height=512)) == 50_000  # `default`
    no_default = PriceConfig(table={"1024x1024": "0.04", "1792x1024": "0.08"})
    assert unit_max(no_default, req()) == 80_000  # size unknown: the most expensive size


def test_per_image_megapixel_and_step_forms() -> None:
    assert unit_max(PriceConfig(per_image="0.04"), req()) == 40_000
    per_mp = PriceConfig(per_megapixel="0.03")
    assert unit_max(per_mp, req(width=1024, height=1024)) == 31_458  # 1.048576 MP, rounded up
    assert unit_max(per_mp, req()) == 120_000  # size not asked: max_megapixels (4)
    per_step = PriceConfig(per_step="0.0002", default_steps=25)
    assert unit_max(per_step, req(steps=50)) == 10_000
    assert unit_max(per_step, req()) == 5_000


def test_call_cost_per_outcome() -> None:
    four = req(n=4, width=1536, height=1024)
    assert call_cost(TABLE, four, result(4), None).micro == 4 * 63_000
    assert call_cost(TABLE, four, result(3), None).micro == 3 * 63_000  # billed per image returned
    refused = call_cost(TABLE, four, None, FailureClass.CONTENT_POLICY)
    assert refused.micro == 0 and refused.basis == "table"
    for free in (FailureClass.CONNECT, FailureClass.RATE_LIMITED, FailureClass.CALLER_FAULT, FailureClass.QUOTA):
        assert call_cost(TABLE, four, None, free).micro == 0
    ambiguous = call_cost(TABLE, four, None, FailureClass.AMBIGUOUS)
    assert ambiguous.micro == 4 * 63_000 and ambiguous.basis == "table"  # the provider may have billed
    assert call_cost(TABLE, four, None, FailureClass.DEADLINE, charged_failure=True).micro == 4 * 63_000
    assert call_cost(None, four, result(4), None).basis == "none"


def test_provider_reported_cost_with_table_fallback() -> None:
    bfl = PriceConfig(per_image="0.05", provider_reported=ProviderReported(field="submit.cost", usd_per_unit="0.01"))
    reported = call_cost(bfl, req(), result(1, {"submit": {"cost": 4.0}}), None)
    assert (reported.micro, reported.basis) == (40_000, "provider_reported")
    fallback = call_cost(bfl, req(), result(1, {"submit": {"id": "x"}}), None)
    assert (fallback.micro, fallback.basis) == (50_000, "table")
    garbage = call_cost(bfl, req(), result(1, {"submit": {"cost": "lots"}}), None)
    assert garbage.basis == "table"
    usage = PriceConfig(per_image="0.1", provider_reported=ProviderReported(field="usage.cost"))
    assert call_cost(usage, req(), result(1, {"usage": {"cost": "0.0123"}}), None).micro == 12_300


def test_provider_reported_rate_finer_than_a_micro_dollar() -> None:
    """xAI reports `usage.cost_in_usd_ticks` (1 tick = 1e-10 USD): the rate has 10 decimals and
    the count is large; the plausibility bound is on the dollars, not the count."""
    xai = PriceConfig(per_image="0.07", provider_reported=ProviderReported(field="usage.cost_in_usd_ticks", usd_per_unit="0.0000000001"))
    ticks = call_cost(xai, req(), result(1, {"usage": {"cost_in_usd_ticks": 200_000_000}}), None)
    assert (ticks.micro, ticks.basis) == (20_000, "provider_reported")
    absurd = call_cost(xai, req(), result(1, {"usage": {"cost_in_usd_ticks": 10**17}}), None)  # 10 million USD
    assert absurd.basis == "table"
    with pytest.raises(ValueError, match="12 decimals"):
        ProviderReported(field="x", usd_per_unit="0.0000000000001")


ROUTING = """
providers:
  mock: {adapter: mock}
models:
  m:
    deployments:
      - provider: mock
        model: v1
        price: {price}
{extra}
"""


@pytest.mark.parametrize(
    ("price", "extra", "path"),
    [
        ("{per_image: '0.04', per_step: '0.001'}", "", "models.m.deployments[0].price"),
        ("{}", "", "models.m.deployments[0].price"),
        ("{per_image: 'free'}", "", "models.m.deployments[0].price"),
        ("{table: {'big': '0.04'}}", "", "models.m.deployments[0].price"),
        ("{table: {'1024x1024': {ultra: '0.04'}}}", "", "models.m.deployments[0].price"),
        ("{per_image: '0.04', provider_reported: {}}", "", "models.m.deployments[0].price.provider_reported.field"),
        ("{per_image: '0.04'}", "budgets: {default: {allowance_usd: '-5'}}", "budgets.default"),
        ("{per_image: '0.04'}", "budgets: {default: {period: year}}", "budgets.default.period"),
    ],
)
def test_price_and_budget_errors_name_the_path(price: str, extra: str, path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(ROUTING.replace("{price}", price).replace("{extra}", extra))
    assert caught.value.path == path, caught.value


def test_the_examples_in_docs_cost_md_load() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "cost.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    providers = "providers:\n  openai: {adapter: openai}\n  flux: {adapter: flux}\n  local_diffusion: {adapter: a1111}\n"
    config = parse_config(providers + blocks[0] + blocks[1] + "auth: {enabled: false}\n")
    assert config.budgets is not None and config.budgets.for_account("eip155:1:0xabc…").period == "month"
    flux = config.models["flux-pro"].deployments[0].price
    assert flux is not None and flux.provider_reported is not None


def test_per_megapixel_charges_the_size_delivered() -> None:
    """A finished image carries its decoded size: a provider that made 2048x2048 for a 1024x1024
    (or a size-less) request bills 4.194304 MP; the reservation stays at the size asked."""
    price = PriceConfig(per_megapixel="0.03")
    image = CheckedImage(data=b"x", format=OutputFormat.PNG, width=2048, height=2048)
    delivered = ProviderResult(images=[image, image], raw={})
    assert call_cost(price, req(width=1024, height=1024, n=2), delivered, None).micro == 2 * 125_830
    assert call_cost(price, req(n=1), delivered, None).micro == 125_830  # only the n asked count
    assert unit_max(price, req(width=1024, height=1024)) == 31_458
