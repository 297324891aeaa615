"""A bounded `multipart/form-data` reader (RFC 7578) for POST /v1/images/edits.

The body arrives already capped (the caller reads at most `server.edit.max_body_bytes`); here the
number of parts, each part's header block and each text field are capped too, and every malformed
shape is a 400 `invalid_request` (never a 500). Files are kept as bytes: the edit input checks
(gateway/edit_inputs.py) decide what they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.errors import InvalidRequest, UnsupportedMediaType

MAX_PARTS = 64
MAX_HEADER_BYTES = 8 * 1024
_BOUNDARY = re.compile(r'boundary=(?:"([^"]{1,70})"|([^;,\s"]{1,70}))', re.IGNORECASE)
_PARAM = re.compile(r';\s*([A-Za-z*]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))')


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None  # present: a file part
    content_type: str | None
    data: bytes


def boundary_of(content_type: str) -> str:
    """The boundary of a `multipart/form-data` Content-Type, else 415."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "multipart/form-data":
        raise UnsupportedMediaType("Content-Type must be multipart/form-data (image files and form fields)")
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise InvalidRequest("multipart/form-data Content-Type has no boundary")
    return match.group(1) or match.group(2)


def parse_form(body: bytes, boundary: str) -> list[Part]:
    """The parts, in order. Each part's bytes are copied once (no copy of the whole body is made)."""
    dash_boundary = b"--" + boundary.encode("latin-1")
    delimiter = b"\r\n" + dash_boundary  # every boundary after the first follows a CRLF
    if body.startswith(dash_boundary):
        start = len(dash_boundary)
    else:  # a preamble before the first boundary is allowed and ignored
        found = body.find(delimiter)
        if found < 0:
            raise InvalidRequest("multipart body has no parts (boundary not found)")
        start = found + len(delimiter)
    if body.startswith(b"--", start):
        raise InvalidRequest("multipart body has no parts")
    chunks: list[bytes] = []
    while not body.startswith(b"--", start):  # `--` after a boundary closes the body
        end = body.find(delimiter, start)
        if end < 0:
            raise InvalidRequest("multipart body is not terminated (no closing boundary)")
        if len(chunks) == MAX_PARTS:
            raise InvalidRequest(f"multipart body has more than {MAX_PARTS} parts")
        chunks.append(body[start:end])
        start = end + len(delimiter)
    return [_part(chunk) for chunk in chunks]


def _part(chunk: bytes) -> Part:
    line_end = chunk.find(b"\r\n")
    if line_end < 0 or chunk[:line_end].strip(b" \t"):
        raise InvalidRequest("multipart part is malformed (no line break after the boundary)")
    head_end = chunk.find(b"\r\n\r\n", line_end)
    if head_end < 0:  # a part with no headers at all has a blank line right after the boundary
        raise InvalidRequest("multipart part has no header block")
    head = chunk[line_end + 2 : head_end]
    if len(head) > MAX_HEADER_BYTES:
        raise InvalidRequest(f"multipart part headers are longer than {MAX_HEADER_BYTES} bytes")
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", errors="replace").split("\r\n"):
        header, colon, value = line.partition(":")
        if not colon:
            raise InvalidRequest("multipart part has a malformed header line")
        headers[header.strip().lower()] = value.strip()
    disposition = headers.get("content-disposition", "")
    if disposition.split(";", 1)[0].strip().lower() != "form-data":
        raise InvalidRequest("multipart part has no `Content-Disposition: form-data`")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(disposition):
        quoted = match.group(2)
        unquoted = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else None
        params[match.group(1).lower()] = unquoted if unquoted is not None else (match.group(3) or "")
    name = params.get("name")
    if not name:
        raise InvalidRequest("multipart part has no field name")
    return Part(name, params.get("filename"), headers.get("content-type"), chunk[head_end + 4 :])
