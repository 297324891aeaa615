"""Long base64 texts spliced into an encoded JSON body instead of being re-scanned by the encoder.

`msgspec.json.encode` checks every character of every string for escapes and copies it: for a 2 MB
image's 2.8 MB data URL that is a full pass plus the copy of an f-string built just before. Here
the body is encoded with a short placeholder (a per-process random token and a serial behind `#`, which no
base64 text or data-URL prefix contains) where the text goes, and the final body is one `join` of
the encoded pieces and the texts: one copy of the payload instead of three passes.

Safe to splice: base64 text is ASCII and never needs a JSON escape; `hold` refuses (returns the
text itself for the ordinary encode) anything that is not plain base64-alphabet ASCII at its ends
and free of `"` and `\\` — the only characters that would break out of the JSON string.
"""

from __future__ import annotations

import itertools
import secrets

MIN_SPLICE = 4096  # shorter texts are encoded the ordinary way
# Unguessable outside this process (it never reaches a client), unique per response by the counter;
# one `secrets` call per response cost ~1.5 % of a 100 KB request's CPU.
_TOKEN = secrets.token_hex(8)
_SERIAL = itertools.count()


class Splicer:
    def __init__(self) -> None:
        self._token = f"{_TOKEN}{next(_SERIAL):x}"
        # (placeholder as encoded, prefix, text, the text's bytes when known)
        self._held: list[tuple[bytes, str, str, memoryview | None]] = []

    def hold(self, prefix: str, text: str, ascii_bytes: memoryview | None = None) -> str:
        """The string to put in the struct: a placeholder for `prefix + text` when it can be spliced.
        `ascii_bytes`: `text` as it was cut from a provider body (gateway/upstream/spans.py), already
        known to be ASCII without `"` or `\\`: written as is, neither scanned nor encoded again."""
        if not prefix.isascii() or '"' in prefix or "\\" in prefix:
            return prefix + text
        known = ascii_bytes if ascii_bytes is not None and len(ascii_bytes) == len(text) else None
        if known is None and (len(text) < MIN_SPLICE or not text.isascii() or '"' in text or "\\" in text):
            return prefix + text
        placeholder = f"#{self._token}:{len(self._held)}"
        self._held.append((f'"{placeholder}"'.encode("ascii"), prefix, text, known))
        return placeholder

    def splice(self, body: bytes) -> bytes:
        """`body` (encoded with the placeholders) with each placeholder replaced by its text."""
        if not self._held:
            return body
        parts: list[bytes | memoryview] = []
        done = 0
        for placeholder, prefix, text, known in self._held:
            at = body.find(placeholder, done)
            if at < 0:
                raise LookupError("a spliced placeholder is missing from the encoded body")
            parts += [body[done : at + 1], prefix.encode("ascii"), text.encode("ascii") if known is None else known]
            done = at + len(placeholder) - 1  # keep the closing quote
        parts.append(body[done:])
        return b"".join(parts)
