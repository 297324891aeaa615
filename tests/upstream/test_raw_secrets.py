"""provider_metadata.raw never carries a credential, even one a provider echoes inside a string."""

from __future__ import annotations

import json

from gateway.upstream.redaction import scrub

KEY = "sk-proj-LEAKCHECK0123456789abcdef"


def test_key_shaped_strings_and_bearer_tokens_inside_values_are_redacted() -> None:
    raw = {
        "data": [{"b64_json": "<elided>", "revised_prompt": f"echo Bearer {KEY}"}],
        "debug": f"key was {KEY}",
        "note": "Authorization: Bearer abc.def-ghi",
        "debug_key": "anything",
    }
    text = json.dumps(scrub(raw))
    assert KEY not in text and "LEAKCHECK" not in text and "abc.def-ghi" not in text
    assert "debug_key" not in text


def test_ordinary_text_is_kept() -> None:
    raw = {"revised_prompt": "a lighthouse at dusk, keyframe sketch", "id": "gen-123", "model": "dall-e-3"}
    assert scrub(raw) == raw
