"""Bad input (reference/reliability.md 6.3, B1/B2/B5): schemathesis over the gateway's own OpenAPI
document, hypothesis over the request decoder, and the documented code for every oversize input.

Bad input must never cost a 5xx: it gets a structured 4xx in the `{"error": {...}}` shape.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator

import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.config import ServerConfig
from gateway.errors import GatewayError
from gateway.schemas import MAX_METADATA_BYTES, decode_generate_request
from tests.reliability import figures
from tests.reliability.cluster import GatewayCluster
from tests.reliability.load import GENERATE
from tests.reliability.scenario import AUTH_ON, Wallet, routing_yaml

pytestmark = pytest.mark.reliability

ROUTING = routing_yaml(
    server={"max_body_bytes": 1048576, "max_prompt_chars": 32000},
    models={"mock-image": {"aliases": ["mock"], "deployments": [{"provider": "mock", "model": "mock-v1"}]}},
    auth=AUTH_ON,
)
WALLET = Wallet()


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with GatewayCluster(1, ROUTING, tmp_path_factory.mktemp("bad-input")) as cluster:
        yield cluster.urls[0]


@pytest.fixture(scope="module")
def api_schema(gateway_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(gateway_url + "/schema/openapi.json")


def _bounded(body: object) -> object:
    """Keep generated *valid* sizes small: the mock provider really draws every pixel, and an
    8192x8192 x10 request is a (legitimate, rate-limited) 5 s job, not a parser input."""
    if isinstance(body, dict):
        for side in ("width", "height"):
            value = body.get(side)
            if isinstance(value, int) and not isinstance(value, bool) and value > 512:
                body[side] = 512
            if isinstance(value, str) and value.isdigit() and int(value) > 512:
                body[side] = "512"
        if "width" not in body and "height" not in body and "aspect_ratio" in body:
            body["width"] = 256
    return body


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_openapi_operations_never_5xx_and_match_the_schema(
    api_schema: schemathesis.BaseSchema, gateway_url: str, mode: GenerationMode
) -> None:
    """Every operation of /schema/openapi.json, valid (positive) and invalid (negative) inputs.

    (schemathesis' own pytest plugin does not load under pytest 9, so the operations are walked here
    with their hypothesis strategies; the checks are schemathesis' own.)"""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {GENERATE, "/api/v1/models", "/healthz", "/readyz"}
    if mode is GenerationMode.NEGATIVE:  # operations without inputs have no invalid input
        operations = [op for op in operations if op.method.upper() == "POST"]
    seen: Counter[str] = Counter()
    for operation in operations:

        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: schemathesis.Case) -> None:
            if mode is GenerationMode.POSITIVE and case.method.upper() == "POST":
                # a served model and a valid signature, so valid bodies reach the provider path
                # (404 and 401 are covered by the negative mode and the header fuzzing below)
                if isinstance(case.body, dict):
                    case.body = _bounded({**case.body, "model": "mock"})
                case.headers = {**(case.headers or {}), **WALLET.header()}
            response = case.call(base_url=gateway_url, timeout=30)
            seen[f"{case.method} {response.status_code}"] += 1
            assert response.status_code < 500, response.text[:500]
            case.validate_response(response, checks=CHECKS)
            if response.status_code >= 400:
                error = json.loads(response.content)["error"]
                assert isinstance(error["code"], str) and isinstance(error["message"], str)

        check()
    assert sum(seen.values()) >= len(operations)
    figures.record(f"B1 schemathesis {mode.value}", operations=len(operations), responses=dict(seen))


EXAMPLES = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


LIMITS = ServerConfig()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    ["model", "prompt", "n", "width", "height", "aspect_ratio", "seed", "steps", "metadata",
     "output_type", "output_format", "stream", "quality", "guide_scale", "user", "lora_strength", "x"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.binary(max_size=256)
    | st.dictionaries(FIELDS, JSON_VALUES, max_size=8).map(lambda d: json.dumps(d).encode())
    | st.dictionaries(FIELDS, JSON_VALUES, max_size=8).map(
        lambda d: json.dumps({"model": "mock", "prompt": "p", **d}).encode()
    )
)
def test_decoder_accepts_or_raises_a_client_error(body: bytes) -> None:
    """decode + to_canonical either yields a request or raises a 4xx GatewayError; nothing else."""
    try:
        decode_generate_request(body).to_canonical(LIMITS)
    except GatewayError as exc:
        assert 400 <= exc.status_code < 500
        assert exc.error_code == "invalid_request"


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.dictionaries(FIELDS, JSON_VALUES, max_size=6)
    | st.binary(max_size=128).map(lambda b: {"model": "mock", "prompt": b.decode("latin-1")})
)
def test_http_endpoint_answers_4xx_or_200_to_fuzzed_bodies(gateway_url: str, body: dict[str, object]) -> None:
    body = _bounded(body)  # type: ignore[assignment]
    headers = {**JSON, **WALLET.header()}
    response = httpx.post(gateway_url + GENERATE, content=json.dumps(body), headers=headers, timeout=30)
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.text[:300]
    if response.status_code != 200:
        assert isinstance(response.json()["error"]["code"], str)


JSON = {"content-type": "application/json"}


def error_of(response: httpx.Response) -> tuple[int, str, str | None]:
    error = response.json()["error"]
    return response.status_code, error["code"], error.get("param")


def test_oversize_body_is_413(gateway_url: str) -> None:
    body = json.dumps({"model": "mock", "prompt": "x" * (LIMITS.max_body_bytes + 10)})
    response = httpx.post(gateway_url + GENERATE, content=body, headers=JSON, timeout=30)
    assert error_of(response)[:2] == (413, "payload_too_large")


def test_oversize_body_without_content_length_is_413(gateway_url: str) -> None:
    chunk = b"x" * 65536

    def stream() -> Iterator[bytes]:
        yield b'{"model": "mock", "prompt": "'
        for _ in range(LIMITS.max_body_bytes // len(chunk) + 2):
            yield chunk
        yield b'"}'

    response = httpx.post(gateway_url + GENERATE, content=stream(), headers=JSON, timeout=30)
    assert error_of(response)[:2] == (413, "payload_too_large")


def test_oversize_prompt_is_400_naming_prompt(gateway_url: str) -> None:
    body = {"model": "mock", "prompt": "x" * (LIMITS.max_prompt_chars + 1)}
    response = httpx.post(gateway_url + GENERATE, json=body, timeout=30)
    assert error_of(response) == (400, "invalid_request", "prompt")


def test_oversize_metadata_is_400_naming_metadata(gateway_url: str) -> None:
    metadata = {"k": "v" * MAX_METADATA_BYTES}
    assert len(msgspec.json.encode(metadata)) > MAX_METADATA_BYTES
    response = httpx.post(gateway_url + GENERATE, json={"model": "mock", "prompt": "p", "metadata": metadata})
    assert error_of(response) == (400, "invalid_request", "metadata")


def test_deeply_nested_json_is_400(gateway_url: str) -> None:
    body = '{"model": "mock", "prompt": "p", "metadata": ' + '{"a": ' * 2000 + "1" + "}" * 2001
    response = httpx.post(gateway_url + GENERATE, content=body, headers=JSON, timeout=30)
    assert error_of(response)[:2] == (400, "invalid_request")


@pytest.mark.parametrize("size", [16 * 1024, 70 * 1024])
def test_oversize_unknown_header_never_costs_a_5xx(gateway_url: str, size: int) -> None:
    """The transport (uvicorn + h11) bounds headers; whatever it answers, never a 5xx."""
    headers = {**JSON, "x-padding": "a" * size}
    try:
        response = httpx.post(gateway_url + GENERATE, json={"model": "mock", "prompt": "p"}, headers=headers)
    except httpx.HTTPError:
        return  # the server closed the connection: acceptable, nothing was processed
    assert response.status_code < 500


def test_wrong_media_type_is_415(gateway_url: str) -> None:
    response = httpx.post(
        gateway_url + GENERATE, content=b"model=mock", headers={"content-type": "text/plain"}
    )
    assert error_of(response)[:2] == (415, "unsupported_media_type")


SIWX = "Sign-In-With-X"
HEADER_VALUES = (
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300).map(str.strip)
    | st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode())
    | st.dictionaries(st.sampled_from(["message", "signature", "x"]), JSON_VALUES, max_size=3).map(
        lambda d: base64.b64encode(json.dumps(d).encode()).decode()
    )
    | st.tuples(st.text(max_size=200), st.text(max_size=140)).map(
        lambda t: base64.b64encode(json.dumps({"message": t[0], "signature": t[1]}).encode()).decode()
    )
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(HEADER_VALUES)
def test_fuzzed_auth_headers_get_a_typed_401(gateway_url: str, value: str) -> None:
    response = httpx.post(
        gateway_url + GENERATE, json={"model": "mock", "prompt": "p"}, headers={SIWX: value}, timeout=30
    )
    assert response.status_code == 401, response.text[:300]
    assert response.json()["error"]["code"].startswith("auth_")
    assert "www-authenticate" in response.headers


def test_oversize_auth_header_is_401_auth_malformed(gateway_url: str) -> None:
    envelope = base64.b64encode(json.dumps({"message": "m" * 9000, "signature": "0x00"}).encode()).decode()
    response = httpx.post(
        gateway_url + GENERATE, json={"model": "mock", "prompt": "p"}, headers={SIWX: envelope}
    )
    assert error_of(response)[:2] == (401, "auth_malformed")


def test_valid_signature_reaches_generation(gateway_url: str) -> None:
    """Guard for the fuzzers above: the configuration really admits a correctly signed request."""
    response = httpx.post(
        gateway_url + GENERATE,
        json={"model": "mock", "prompt": "p", "width": 64, "height": 64},
        headers=WALLET.header(),
        timeout=30,
    )
    assert response.status_code == 200, response.text
