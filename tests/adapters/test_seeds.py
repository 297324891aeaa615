"""Every seed the gateway reports can be sent back (issue 14 item 13).

A1111 turns seed -1 into random.randrange(4294967294) and BFL picks its own seed when none is sent;
both may exceed 2^31-1, which the wire schema refuses. The adapters now draw the seed themselves.
"""

from __future__ import annotations

import json

import httpx
import msgspec
import pytest

from adapters.flux import FluxAdapter
from adapters.local_diffusion import LocalDiffusionAdapter
from gateway.canonical import ImageRequest
from gateway.schemas import MAX_SEED, GenerateRequest
from tests.fakes.a1111 import FakeA1111
from tests.fakes.base import SECRET, ctx
from tests.fakes.bfl import FakeBFL


def resendable(seed: int | None) -> None:
    """The seed fits the wire schema: a client can ask for the same image again."""
    assert seed is not None and 0 <= seed <= MAX_SEED
    msgspec.json.decode(
        json.dumps({"model": "m", "prompt": "p", "seed": seed}).encode(), type=GenerateRequest
    )


@pytest.mark.parametrize("n", [1, 4])
async def test_a1111_seeds_are_drawn_by_the_gateway(n: int) -> None:
    fake = FakeA1111()
    settings = {"backend": "a1111", "base_url": "http://sd.local:7860"}
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = LocalDiffusionAdapter(provider="sd", settings=settings, client=client)
        for _ in range(5):
            result = await adapter.generate(ImageRequest(model="m", prompt="fox", n=n), ctx("sd15"))
            sent = json.loads(fake.requests[-1].content)["seed"]
            assert sent != -1
            assert [i.seed for i in result.images] == [sent + k for k in range(n)]
            for image in result.images:
                resendable(image.seed)


async def test_a1111_client_seed_is_sent_unchanged() -> None:
    fake = FakeA1111()
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = LocalDiffusionAdapter(
            provider="sd", settings={"backend": "a1111", "base_url": "http://sd.local:7860"}, client=client
        )
        result = await adapter.generate(ImageRequest(model="m", prompt="fox", seed=7), ctx("sd15"))
    assert json.loads(fake.requests[-1].content)["seed"] == 7 and result.images[0].seed == 7


async def test_bfl_seeds_are_drawn_by_the_gateway() -> None:
    fake = FakeBFL()
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = FluxAdapter(
            provider="bfl", settings={"api_key": SECRET, "poll_interval_seconds": 0.0}, client=client
        )
        for _ in range(3):
            result = await adapter.generate(ImageRequest(model="m", prompt="fox"), ctx("flux-pro-1.1"))
            assert fake.seeds[-1] is not None
            assert result.images[0].seed == fake.seeds[-1]
            resendable(result.images[0].seed)
