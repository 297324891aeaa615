"""ComfyUI, pure: history entries -> `/view` references, finished-with-error entries and HTTP errors
-> `ProviderError` (adapters/comfyui.py does the I/O; the graph encoders are there and in
adapters/comfyui_edit.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from gateway import upstream
from gateway.errors import FailureClass, ProviderError


def decode_response(entry: Mapping[str, Any]) -> list[dict[str, str]]:
    """`/view` query parameters for every saved (type "output") image of a history entry, in node order."""
    refs = []
    outputs = entry.get("outputs")
    for node_output in (outputs or {}).values() if isinstance(outputs, dict) else []:
        for image in node_output.get("images", []) if isinstance(node_output, dict) else []:
            if isinstance(image, dict) and image.get("type", "output") == "output" and image.get("filename"):
                folder = str(image.get("subfolder", ""))
                refs.append({"filename": str(image["filename"]), "subfolder": folder, "type": "output"})
    return refs


def classify_history(provider: str, entry: Mapping[str, Any]) -> ProviderError | None:
    """A finished history entry with `status_str: error` -> TRANSIENT (execution failed, e.g. OOM)."""
    status = entry.get("status")
    if not isinstance(status, dict) or status.get("status_str") != "error":
        return None
    exception_type = None
    for message in status.get("messages", []):
        if isinstance(message, list) and len(message) == 2 and message[0] == "execution_error":
            data = message[1] if isinstance(message[1], dict) else {}
            exception_type = data.get("exception_type")
    code = exception_type if isinstance(exception_type, str) else None
    message = "comfyui execution failed" + (f" ({code})" if code else "")
    return ProviderError(
        provider, FailureClass.TRANSIENT, message, status=200, provider_code=code or "execution_error"
    )


def classify_error(status: int, headers: httpx.Headers, body: bytes) -> ProviderError:
    """POST /prompt errors: 400 `{error: {type}, node_errors}` is our template or values at fault."""
    parsed = upstream.parse_error_body(body)
    error = parsed.get("error") if isinstance(parsed, dict) else None
    code = error.get("type") if isinstance(error, dict) else error if isinstance(error, str) else None
    failure = upstream.status_failure(status)
    nodes = parsed.get("node_errors") if isinstance(parsed, dict) else None
    message = f"comfyui HTTP {status}" + (f" ({code})" if isinstance(code, str) else "")
    if isinstance(nodes, dict) and nodes:
        message += f" in nodes {sorted(nodes)}"
    retry = upstream.retry_hint(failure, headers)
    code = code if isinstance(code, str) else None
    # The executor stamps the deployment's provider name on every ProviderError.
    return ProviderError("comfyui", failure, message, status=status, retry_after=retry, provider_code=code)
