"""The one base64 codec: pybase64 (SIMD), strict.

Every image passes through base64 at least once (providers send it, clients receive it). CPython's
`binascii` decodes a byte at a time: 6.7 ms for a 2 MB image's 2.8 MB of text on the development
machine, more than the rest of the gateway's work on that request; pybase64 does the same in
0.14 ms and validates the whole alphabet while it does (docs/benchmarks.md).

Strictness: `b64decode` refuses anything `binascii.a2b_base64(strict_mode=True)` refuses (whitespace,
characters outside the standard alphabet, missing, leading, discontinuous or excess padding) and
also a run of more padding than the text needs; it raises `binascii.Error` as binascii does.
"""

from __future__ import annotations

import pybase64


def b64decode(text: str | bytes | memoryview) -> bytes:
    """The bytes of standard, padded base64 `text`; binascii.Error for anything else."""
    return pybase64.b64decode(text, validate=True)


def b64encode(data: bytes | memoryview) -> str:
    """Standard, padded base64 text of `data`."""
    return pybase64.b64encode_as_string(data)
