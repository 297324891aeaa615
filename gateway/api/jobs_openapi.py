"""The async-job part of the OpenAPI document (spec/jobs.md): the 202 of the generate route and
the /api/v1/jobs/{id} operations, from the msgspec wire types."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.jobs import JOBS_PATH, JobAccepted, JobView

_REF = "#/components/schemas/{name}"
_JOB = f"{JOBS_PATH}/{{job_id}}"


def describe_jobs(schema: dict[str, Any], generate_paths: list[str], sse_event: dict[str, Any]) -> None:
    _, components = msgspec.json.schema_components([JobAccepted, JobView], ref_template=_REF)
    schema["components"]["schemas"].update(components)
    error = {"application/json": {"schema": {"$ref": _REF.format(name="ErrorResponse")}}}
    prefer = {
        "name": "Prefer",
        "in": "header",
        "required": False,
        "description": "respond-async: answer 202 with a job (RFC 7240)",
        "schema": {"type": "string"},
    }
    for path in generate_paths:
        operation = schema["paths"].get(path, {}).get("post")
        if operation is None:
            continue
        operation.setdefault("parameters", []).append(prefer)
        operation["responses"]["202"] = {
            "description": "Accepted as an async job (Prefer: respond-async); Location: the job",
            "content": {"application/json": {"schema": {"$ref": _REF.format(name="JobAccepted")}}},
        }
    job = {"application/json": {"schema": {"$ref": _REF.format(name="JobView")}}}
    bad = {"description": "invalid_request: not a job id", "content": error}
    missing = {"description": "job_not_found (unknown, expired, or another account's)", "content": error}
    unavailable = {"description": "service_unavailable: the job store is unreachable", "content": error}
    paths = schema["paths"]
    for method, description in (("get", "The job"), ("delete", "Canceled (or already finished): the job")):
        if _JOB in paths and method in paths[_JOB]:
            paths[_JOB][method]["responses"] = {
                "200": {"description": description, "content": job},
                "400": bad,
                "401": {"description": "auth_*", "content": error},
                "404": missing,
                "503": unavailable,
            }
    events = paths.get(f"{_JOB}/events", {}).get("get")
    if events is not None:
        events["responses"] = {
            "200": {
                "description": "The job's events from the first (or after Last-Event-ID), ending with completed or error",
                "content": {"text/event-stream": {"schema": sse_event}},
            },
            "400": bad,
            "401": {"description": "auth_*", "content": error},
            "404": missing,
            "503": unavailable,
        }
