"""Base64 blobs cut out of a provider's JSON body before it is decoded (no JSON pass over them).

A 2 MB image arrives as 2.8 MB of base64 inside a JSON string. Decoding the whole body makes the
JSON decoder scan (and copy) every one of those bytes to find the string's end and check it for
escapes; `cut_strings` finds each `"<key>": "...` with `bytes.find` (memchr speed), checks the
string holds no backslash (no JSON escape) and is ASCII, and replaces it in a small skeleton body
by a placeholder that no base64 text can be (`#` is outside the alphabet, plus a per-process
random token and a serial).
The caller decodes the skeleton as usual and swaps each placeholder for its text. A string that
does not pass (an escape such as `\\/`, non-ASCII) is left in place: msgspec decodes it as before.

What this does NOT check about a cut string: that every character is in the base64 alphabet (a
control character would make invalid JSON once spliced into a response). The image proof does:
`finishing` decodes every text it lets through strictly (`gateway.b64`) before it goes out;
docs/benchmarks.md lists exactly what is proven.
"""

from __future__ import annotations

import contextvars
import itertools
import re
import secrets

_WS_COLON = re.compile(rb"\s*:\s*\"")
MIN_CUT = 4096  # shorter strings are not worth a placeholder
_TOKEN = secrets.token_hex(6)  # per process (never sent anywhere), plus a serial per call
_SERIAL = itertools.count()


# The ASCII bytes behind each text cut in this task (id(text) -> (text, its bytes in the body)):
# `ascii_of` gives them back to `upstream.base64_image`, so the response can be written from the
# provider's own bytes, already known free of `"` and `\\` (gateway/splice.py): no re-encode, no
# re-scan. Per task (asyncio copies the context), so it lives no longer than the attempt that read
# the body; the identity check makes a recycled id harmless.
_CUT_BYTES: contextvars.ContextVar[dict[int, tuple[str, memoryview]] | None] = contextvars.ContextVar(
    "cut_bytes", default=None
)


def ascii_of(text: str) -> memoryview | None:
    """The body bytes `text` was cut from in this task, if it was cut (same characters, ASCII).
    Taken once: the entry is dropped, so the registry never outlives the image it was for."""
    known = _CUT_BYTES.get()
    entry = known.pop(id(text), None) if known else None
    return entry[1] if entry is not None and entry[0] is text else None


class Cut:
    """A skeleton body and the texts cut out of it, keyed by their placeholders."""

    __slots__ = ("skeleton", "texts")

    def __init__(self, skeleton: bytes, texts: dict[str, str], views: dict[str, memoryview] | None = None) -> None:
        self.skeleton = skeleton
        self.texts = texts
        # Replaces the previous cut's entries: a long-lived task holds at most one body this way.
        _CUT_BYTES.set({id(texts[p]): (texts[p], view) for p, view in (views or {}).items()} or None)

    def restore(self, value: object) -> object:
        """The decoded skeleton with every placeholder replaced by its text (the same str object:
        nothing is copied), in place for dicts and lists."""
        if not self.texts:
            return value
        if isinstance(value, str):
            return self.texts.get(value, value) if value.startswith("#") else value
        if isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, (str, dict, list)):
                    value[k] = self.restore(v)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, (str, dict, list)):
                    value[i] = self.restore(v)
        return value


def cut_strings(body: bytes, key: str) -> Cut:
    """`body` with every long, escape-free ASCII string value of `"<key>"` replaced by a placeholder."""
    needle = b'"' + key.encode("ascii") + b'"'
    token = f"{_TOKEN}{next(_SERIAL):x}"
    parts: list[bytes] = []
    texts: dict[str, str] = {}
    views: dict[str, memoryview] = {}
    view = memoryview(body)
    done = 0
    at = body.find(needle)
    while at >= 0:
        colon = _WS_COLON.match(body, at + len(needle))
        if colon is None:
            at = body.find(needle, at + len(needle))
            continue
        start = colon.end()
        end = body.find(b'"', start)
        if end < 0:
            break  # unterminated: the JSON decode reports it
        if end - start >= MIN_CUT and body.find(b"\\", start, end) < 0:
            try:
                text = str(view[start:end], "ascii")
            except UnicodeDecodeError:
                text = ""
            if text:
                placeholder = f"#{token}:{len(texts)}"
                parts += [body[done:start], placeholder.encode("ascii")]
                texts[placeholder] = text
                views[placeholder] = view[start:end]
                done = end
        at = body.find(needle, end + 1)
    if not texts:
        return Cut(body, texts)
    parts.append(body[done:])
    return Cut(b"".join(parts), texts, views)
