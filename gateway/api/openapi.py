"""The OpenAPI document at /schema, completed with the msgspec wire types.

The generate handler reads its raw body (it enforces size, media type and strict decoding itself),
so Litestar cannot infer the request/response schemas; they are added here from the Structs.
"""

from __future__ import annotations

from typing import Any, get_args

import msgspec
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.base import OpenAPISchemaPluginProtocol  # noqa: F401  (kept for type readers)
from litestar.router import Router
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

from gateway.api.auth import NonceResponse
from gateway.api.balance import BALANCE_PATH, SessionBalance
from gateway.api.edit import EDIT_PATH
from gateway.api.files import describe_files
from gateway.api.images import GENERATE_PATH
from gateway.api.jobs_openapi import describe_jobs
from gateway.api.openai_compat import OpenAIEditFields, OpenAIImageRequest, OpenAIImagesResponse, OpenAIModels
from gateway.api.openai_errors import OpenAIError
from gateway.api.openai_stream import COMPLETED, EDIT_COMPLETED, EDIT_PARTIAL, PARTIAL
from gateway.edit_schema import EditRequest
from gateway.schemas import ErrorResponse, GenerateRequest, GenerateResponse, ModelsResponse
from gateway.streaming.events import EventName

_REF = "#/components/schemas/{name}"
# One server-sent event as a client parses it (`id:`, `event:`, `data:` lines; data is JSON text).
_SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "event": {"type": "string", "enum": list(get_args(EventName))},
        "data": {"type": "string", "description": "JSON: the event's payload (see the streaming docs)"},
        "retry": {"type": "integer"},
    },
    "required": ["data"],
}


# Swagger UI's files, served from the installed package (swagger-ui-bundle-v2, pinned): /schema
# renders with no network at all. Litestar's default plugins load their JS from a CDN.
ASSETS_PATH = "/schema/assets"
SIWX_HEADER_DESCRIPTION = """\
Standard Base64 (with padding) of the UTF-8 JSON `{"message": "<CAIP-122 message>", "signature": "<sig>"}`.

The message (LF line breaks, printable ASCII; fields in this order):

```
<domain> wants you to sign in with your Ethereum account:      (or "Solana account")
<address>

<optional one-line statement, then a blank line>
URI: <this gateway's origin + any path>
Version: 1
Chain ID: <1 | eip155:1 | solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp ...>
Nonce: <8-128 letters and digits, new for every request>
Issued At: <RFC 3339, now>
Expiration Time: <RFC 3339, at most 1 h after Issued At>
```

`domain` and the URI's origin must be the ones in the `WWW-Authenticate` challenge of any 401.
EVM: `signature` is the hex EIP-191 personal_sign (65 bytes) by the address; Solana: base58 ed25519
over the message bytes. Without a wallet: `imagegate sign --url <this URL>` prints a header.
Operators running the AiMo SDK set `auth.profile: aimo-sdk` (no nonce, no issued-at, one header
re-sent for an hour). Details: docs/authentication.md."""
GENERATE_EXAMPLE: dict[str, Any] = {
    "model": "mock-image",
    "prompt": "a lighthouse at dusk",
    "n": 1,
    "width": 512,
    "height": 512,
}


def openapi_config(version: str) -> OpenAPIConfig:
    swagger = SwaggerRenderPlugin(
        version="5.31.0",
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        path="/",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )
    return OpenAPIConfig(
        title="imagegate",
        version=version,
        description="One URL, one schema for image generation. Authenticate with the Sign-In-With-X header.",
        path="/schema",
        render_plugins=[swagger],
    )


def docs_assets() -> Router:
    """The Swagger UI files under /schema/assets (not part of the API schema)."""
    return create_static_files_router(path=ASSETS_PATH, directories=[swagger_ui_path], name="docs-assets")


def complete_schema(app: Litestar) -> None:
    """on_startup hook: patch the cached OpenAPI dict with request/response bodies."""
    from litestar._openapi.plugin import OpenAPIPlugin

    schema = app.plugins.get(OpenAPIPlugin).provide_openapi_schema()
    _, components = msgspec.json.schema_components(
        [GenerateRequest, EditRequest, GenerateResponse, ErrorResponse, ModelsResponse, NonceResponse],
        ref_template=_REF,
    )
    schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
    error = {"application/json": {"schema": {"$ref": _REF.format(name="ErrorResponse")}}}
    generate: dict[str, Any] = schema["paths"][GENERATE_PATH]["post"]
    generate["parameters"] = [
        {
            "name": "Sign-In-With-X",
            "in": "header",
            "required": True,
            "description": SIWX_HEADER_DESCRIPTION,
            "schema": {"type": "string", "maxLength": 8192},
        },
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Run at most once per key (docs/idempotency.md); a repeat gets the stored answer",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
        },
    ]
    generate["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": _REF.format(name="GenerateRequest")},
                "example": GENERATE_EXAMPLE,
            }
        },
    }
    generate["responses"] = {
        "200": {
            "description": "Images (JSON for output_type data_url; raw bytes for output_type file; SSE for stream)",
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(name="GenerateResponse")}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/webp": {"schema": {"type": "string", "format": "binary"}},
                "text/event-stream": {"schema": _SSE_EVENT},
            },
        },
        **{
            str(status): {"description": description, "content": error}
            for status, description in [
                (400, "invalid_request / content_policy_violation"),
                (401, "auth_* (see docs/authentication.md); auth_invalid_key"),
                (402, "insufficient_balance (docs/cost.md; with an x402 PAYMENT-REQUIRED header)"),
                (403, "model_not_allowed (an API key limited to other models)"),
                (404, "model_not_found"),
                (409, "idempotency_in_progress / idempotency_replay_unavailable"),
                (413, "payload_too_large"),
                (415, "unsupported_media_type"),
                (422, "idempotency_key_mismatch"),
                (429, "rate_limited"),
                (502, "upstream_error / storage_error"),
                (503, "auth_unavailable / provider_capacity / upstream_rate_limited / service_unavailable"),
                (504, "upstream_timeout"),
            ]
        },
    }
    # The edit route: the same header, answers and errors; its own body (spec/image-edit.md).
    edit: dict[str, Any] = schema["paths"][EDIT_PATH]["post"]
    edit["parameters"] = generate["parameters"]
    edit["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _REF.format(name="EditRequest")}}},
    }
    edit["responses"] = generate["responses"]
    _describe_health(schema["paths"])
    _describe_openai(schema)
    _describe_nonce(schema["paths"], error)
    _describe_balance(schema, error)
    describe_files(schema["paths"], error)
    describe_jobs(schema, [GENERATE_PATH, "/api/v1/image/edit"], _SSE_EVENT)
    models = schema["paths"]["/api/v1/models"]["get"]
    models["responses"] = {
        "200": {
            "description": "Models",
            "content": {"application/json": {"schema": {"$ref": _REF.format(name="ModelsResponse")}}},
        }
    }


def _describe_health(paths: dict[str, Any]) -> None:
    """/healthz and /readyz answer JSON objects (readyz: 503 when the store is unreachable)."""
    status = {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}
    content = {"application/json": {"schema": status}}
    paths["/healthz"]["get"]["responses"] = {"200": {"description": "Alive", "content": content}}
    paths["/readyz"]["get"]["responses"] = {
        "200": {"description": "Ready", "content": content},
        "503": {"description": "The store is unreachable", "content": content},
    }


def _describe_nonce(paths: dict[str, Any], error: dict[str, Any]) -> None:
    nonce = paths.get("/api/v1/auth/nonce", {}).get("get")
    if nonce is None:
        return
    nonce["responses"] = {
        "200": {
            "description": "A server-issued nonce",
            "content": {"application/json": {"schema": {"$ref": _REF.format(name="NonceResponse")}}},
        },
        "404": {
            "description": "Authentication is disabled, or the gateway does not issue nonces "
            "(auth.require_issued_nonce is false)",
            "content": error,
        },
        "429": {"description": "rate_limited: the IP limit (limits.ip) applies", "content": error},
        "503": {"description": "auth_unavailable: the replay store is unreachable or full", "content": error},
    }


_OPENAI_SSE_EVENT: dict[str, Any] = {
    **_SSE_EVENT,
    "properties": {
        **_SSE_EVENT["properties"],
        "event": {"type": "string", "enum": [PARTIAL, COMPLETED, "error"]},
        "data": {"type": "string", "description": "JSON: OpenAI's image event (its `type` repeats `event`)"},
    },
}


def _describe_balance(schema: dict[str, Any], error: dict[str, Any]) -> None:
    """GET /api/v1/session/balance (docs/cost.md): the AiMo shape."""
    _, components = msgspec.json.schema_components([SessionBalance], ref_template=_REF)
    schema["components"]["schemas"].update(components)
    balance = schema["paths"][BALANCE_PATH]["get"]
    balance["responses"] = {
        "200": {
            "description": "What the caller's account can spend now",
            "content": {"application/json": {"schema": {"$ref": _REF.format(name="SessionBalance")}}},
        },
        "401": {"description": "auth_* (authenticated like generation)", "content": error},
        "503": {"description": "service_unavailable (the budget store)", "content": error},
    }


def _describe_openai(schema: dict[str, Any]) -> None:
    """/v1 (docs/openai-compatibility.md): OpenAI's request body and error shape."""
    _, components = msgspec.json.schema_components(
        [OpenAIImageRequest, OpenAIImagesResponse, OpenAIError, OpenAIModels], ref_template=_REF
    )
    schema["components"]["schemas"].update(components)
    error = {"application/json": {"schema": {"$ref": _REF.format(name="OpenAIError")}}}
    generate = schema["paths"]["/v1/images/generations"]["post"]
    generate["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _REF.format(name="OpenAIImageRequest")}}},
    }
    generate["responses"] = {
        "200": {
            "description": "Images (SSE of OpenAI image events for stream: true)",
            "content": {
                "application/json": {"schema": {"$ref": _REF.format(name="OpenAIImagesResponse")}},
                "text/event-stream": {"schema": _OPENAI_SSE_EVENT},
            },
        },
        **{
            str(status): {"description": description, "content": error}
            for status, description in [
                (400, "invalid_request_error"),
                (401, "authentication_error"),
                (402, "invalid_request_error (insufficient_balance, docs/cost.md)"),
                (403, "permission_error (model_not_allowed)"),
                (404, "invalid_request_error (model_not_found)"),
                (413, "invalid_request_error (payload_too_large)"),
                (415, "invalid_request_error (unsupported_media_type)"),
                (429, "rate_limit_error"),
                (502, "api_error"),
                (503, "api_error"),
                (504, "api_error"),
            ]
        },
    }
    _describe_openai_edit(schema, generate["responses"])
    models = schema["paths"]["/v1/models"]["get"]
    models["responses"] = {
        "200": {
            "description": "Models",
            "content": {"application/json": {"schema": {"$ref": _REF.format(name="OpenAIModels")}}},
        }
    }


def _describe_openai_edit(schema: dict[str, Any], responses: dict[str, Any]) -> None:
    """/v1/images/edits: OpenAI's multipart form (files `image` or repeated `image[]`, `mask`, and
    the edit fields as form fields); the responses are generate's."""
    _, components = msgspec.json.schema_components([OpenAIEditFields], ref_template=_REF)
    form = components["OpenAIEditFields"]
    binary = {"type": "string", "format": "binary"}
    body = {
        "type": "object",
        "required": ["image", *form.get("required", [])],
        "properties": {
            "image": {"oneOf": [binary, {"type": "array", "items": binary, "minItems": 1, "maxItems": 16}]},
            "image[]": {"type": "array", "items": binary, "minItems": 1, "maxItems": 16},
            "mask": binary,
            **form["properties"],
        },
        "additionalProperties": False,
    }
    edit = schema["paths"]["/v1/images/edits"]["post"]
    edit["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": body}}}
    events = {**_OPENAI_SSE_EVENT["properties"]["event"], "enum": [EDIT_PARTIAL, EDIT_COMPLETED, "error"]}
    stream = {**_OPENAI_SSE_EVENT, "properties": {**_OPENAI_SSE_EVENT["properties"], "event": events}}
    ok = responses["200"]
    edit["responses"] = {
        **responses,
        "200": {**ok, "content": {**ok["content"], "text/event-stream": {"schema": stream}}},
    }
