"""The HTTP API end to end (the "Done when" of issue 2), over real HTTP against `imagegate serve`
with the bundled routing."""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from PIL import Image

from gateway.client import EvmSigner, sign_header
from tests.acceptance.conftest import Served

pytestmark = pytest.mark.slow

SIGNER = EvmSigner.throwaway()
BASE = {"model": "mock-image", "prompt": "a lighthouse at dusk"}


def post(gateway: Served, http: httpx.Client, body: object, **kw: object) -> httpx.Response:
    headers = {"Sign-In-With-X": sign_header(gateway.generate_url, SIGNER), "content-type": "application/json"}
    headers.update(kw.pop("headers", {}))  # type: ignore[arg-type]
    content = kw.pop("content", None)
    if content is None:
        content = json.dumps(body).encode()
    return http.post(gateway.generate_url, content=content, headers=headers)  # type: ignore[arg-type]


def test_start_up_log_names_models_providers_and_the_per_process_store(gateway: Served) -> None:
    log = gateway.log()
    assert "models: mock-image" in log and "providers: mock" in log and "store: memory" in log
    assert "no REDIS_URL" in log and "per process" in log


def test_two_webp_images_of_640x384(gateway: Served, http: httpx.Client) -> None:
    body = {**BASE, "n": 2, "width": "640", "height": "384", "output_format": "webp"}
    response = post(gateway, http, body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    assert payload["status"] == "completed" and payload["error"] is None
    assert payload["id"] == response.headers["x-request-id"]
    assert [image["index"] for image in payload["images"]] == [0, 1]
    for image in payload["images"]:
        header, _, data = image["data_url"].partition(",")
        assert header == "data:image/webp;base64"
        with Image.open(io.BytesIO(base64.b64decode(data))) as decoded:
            assert decoded.format == "WEBP" and decoded.size == (640, 384)
        assert (image["width"], image["height"], image["format"]) == (640, 384, "webp")
    metadata = payload["provider_metadata"]
    assert set(metadata) == {"provider", "model", "raw", "attempts", "warnings", "cost"}
    assert metadata["provider"] == "mock" and isinstance(metadata["raw"], dict)
    assert [a["outcome"] for a in metadata["attempts"]] == ["ok"]
    assert len(json.dumps(metadata["raw"])) < 4096  # image payloads are placeholders, not base64


@pytest.mark.parametrize(("output_format", "media_type", "pil"), [("png", "image/png", "PNG"), ("jpeg", "image/jpeg", "JPEG")])
def test_file_output_is_the_image_bytes(
    gateway: Served, http: httpx.Client, output_format: str, media_type: str, pil: str
) -> None:
    body = {**BASE, "output_type": "file", "output_format": output_format, "width": 320, "height": 200, "seed": 7}
    response = post(gateway, http, body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media_type
    assert response.headers["x-provider"] == "mock" and response.headers["x-image-seed"] == "7"
    assert response.headers["x-request-id"]
    with Image.open(io.BytesIO(response.content)) as decoded:
        assert decoded.format == pil and decoded.size == (320, 200)


@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"n": 11}, "n"),
        ({"seed": -2}, "seed"),
        ({"quality": "ultra"}, "quality"),
        ({"colour": "blue"}, "colour"),
        ({"output_type": "file", "n": 2}, "output_type"),
        ({"width": "63"}, "width"),
        ({"height": 8193}, "height"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(
    gateway: Served, http: httpx.Client, patch: dict[str, object], param: str
) -> None:
    response = post(gateway, http, {**BASE, **patch})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["param"] == param and param in error["message"]
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "invalid_request"),
        (b'{"model": "mock-image", "prompt": "\xff"}', "application/json", 400, "invalid_request"),
        (b'{"model": "mock-image", "prompt": "a"}', "text/plain", 415, "unsupported_media_type"),
        (b'{"model": "mock-image", "prompt": "' + b"a" * (2 * 1024 * 1024) + b'"}', "application/json", 413, "payload_too_large"),
    ],
    ids=["non-json", "invalid-utf8", "text-plain", "2MiB"],
)
def test_bad_bodies_get_the_documented_4xx(
    gateway: Served, http: httpx.Client, content: bytes, content_type: str, status: int, code: str
) -> None:
    response = post(gateway, http, None, content=content, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code and response.headers["x-request-id"]


def test_unknown_model_is_404(gateway: Served, http: httpx.Client) -> None:
    response = post(gateway, http, {**BASE, "model": "no-such-model"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"


def test_request_id_is_echoed(gateway: Served, http: httpx.Client) -> None:
    response = post(gateway, http, {**BASE, "width": 64, "height": 64}, headers={"X-Request-Id": "acceptance-1"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "acceptance-1"
    assert response.json()["id"] == "acceptance-1"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/api/v1/models", "/schema", "/metrics", "/no-such-path"])
def test_other_endpoints_answer_with_a_request_id(gateway: Served, http: httpx.Client, path: str) -> None:
    response = http.get(gateway.url + path)
    assert response.status_code == (404 if path == "/no-such-path" else 200)
    assert response.headers["x-request-id"]


def test_models_and_readiness(gateway: Served, http: httpx.Client) -> None:
    models = http.get(gateway.url + "/api/v1/models").json()
    (model,) = models["data"]
    assert model["id"] == "mock-image" and model["providers"][0]["provider"] == "mock"
    ready = http.get(gateway.url + "/readyz").json()
    assert ready["status"] == "ready" and ready["store"] == {"kind": "memory", "ok": True}


def test_openapi_shows_every_field_with_enums_and_bounds(gateway: Served, http: httpx.Client) -> None:
    document = http.get(gateway.url + "/schema/openapi.json").json()
    schemas = document["components"]["schemas"]
    request = schemas["GenerateRequest"]
    fields = {
        "model", "prompt", "negative_prompt", "n", "width", "height", "aspect_ratio", "style", "quality",
        "output_format", "output_type", "seed", "guide_scale", "stream", "steps", "style_preset", "resolution",
        "hide_watermark", "lora_strength", "safe_mode", "embed_exif_metadata", "enable_web_search", "user",
        "metadata", "webhook_url",  # webhook_url: async jobs (jobs.md)
    }
    assert set(request["properties"]) == fields and request["additionalProperties"] is False
    assert set(request["required"]) == {"model", "prompt"}
    assert (request["properties"]["n"]["minimum"], request["properties"]["n"]["maximum"]) == (1, 10)
    assert set(schemas["Quality"]["enum"]) == {"low", "medium", "high", "auto"}
    assert set(schemas["OutputFormat"]["enum"]) == {"png", "jpeg", "webp"}
    assert set(schemas["OutputType"]["enum"]) == {"data_url", "file", "url"}  # url: stored results (jobs.md)
    assert set(schemas["Resolution"]["enum"]) == {"1K", "2K", "4K"}
    text = json.dumps(request)
    for bound in ('"minimum": -1', '"maximum": 2147483647', '"maximum": 50.0', '"maximum": 8192', '"maximum": 100'):
        assert bound in text
    assert {"GenerateResponse", "ErrorResponse", "ProviderMetadata", "Attempt"} <= set(schemas)
    operation = document["paths"]["/api/v1/image/generate"]["post"]
    assert {"400", "401", "404", "413", "415", "429", "502", "503", "504"} <= set(operation["responses"])
    page = http.get(gateway.url + "/schema")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
