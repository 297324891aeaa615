"""Bodies that are JSON-shaped but not valid UTF-8 (or otherwise odd bytes) get 400, never 500."""

from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

URL = "/api/v1/image/generate"


@pytest.mark.parametrize(
    "body",
    [
        b'{"model":"mock-image","prompt":"\xff"}',
        b'{"model":"mock-image","prompt":"caf\xc3"}',
        b'{"model":"\xed\xa0\x80","prompt":"x"}',
        b"\xef\xbb\xbf\xff",
    ],
)
async def test_invalid_utf8_body_is_400(client: AsyncTestClient, body: bytes) -> None:
    response = await client.post(URL, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert "x-request-id" in response.headers
