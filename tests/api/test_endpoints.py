"""Models, health, readiness and the OpenAPI document."""

from __future__ import annotations

from litestar.testing import AsyncTestClient


async def test_models_lists_providers_and_capabilities(client: AsyncTestClient) -> None:
    payload = (await client.get("/api/v1/models")).json()
    model = next(m for m in payload["data"] if m["id"] == "mock-image")
    assert model["aliases"] == ["mock"]
    assert model["providers"][0]["provider"] == "mock"
    assert model["providers"][0]["capabilities"]["max_n"] == 4
    assert set(model["providers"][0]["capabilities"]["formats"]) == {"png", "jpeg", "webp"}


async def test_healthz_is_ok(client: AsyncTestClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_reports_store_and_config(client: AsyncTestClient) -> None:
    payload = (await client.get("/readyz")).json()
    assert payload["status"] == "ready" and payload["store"]["kind"] == "memory"
    assert payload["config"]["models"] == 3


async def test_openapi_documents_request_fields_with_bounds(client: AsyncTestClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    request = schema["components"]["schemas"]["GenerateRequest"]
    assert request["additionalProperties"] is False
    assert request["required"] == ["model", "prompt"]
    assert request["properties"]["n"]["minimum"] == 1 and request["properties"]["n"]["maximum"] == 10
    assert {"low", "medium", "high", "auto"} <= set(
        str(v) for v in _enum_values(schema, request["properties"]["quality"])
    )
    post = schema["paths"]["/api/v1/image/generate"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/GenerateRequest")
    assert "GenerateResponse" in schema["components"]["schemas"]
    assert "413" in post["responses"] and "415" in post["responses"]


def _enum_values(schema: dict, prop: dict) -> list[object]:  # type: ignore[type-arg]
    for option in prop.get("anyOf", [prop]):
        if "$ref" in option:
            target = schema["components"]["schemas"][option["$ref"].rsplit("/", 1)[1]]
            return list(target.get("enum", []))
        if "enum" in option:
            return list(option["enum"])
    return []
