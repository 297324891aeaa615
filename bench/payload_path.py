"""The 2 MB byte path in-process, without the network: upstream body -> adapter -> proof -> response.

Runs the OpenAI adapter against an `httpx.MockTransport` that answers a real PNG of random pixels
(`bench/mock_openai.py`), then `finishing.check_result` and the JSON (data URL) or file responder,
and prints the CPU time per request of this one process. Deterministic enough on a loaded machine
(no sockets, no other process), and short enough to run under callgrind for an instruction count:

    .venv/bin/python bench/payload_path.py --size 2m --iterations 40
    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \\
        .venv/bin/python bench/payload_path.py --size 2m --iterations 3 --warmup 1
    callgrind_annotate /tmp/cg.out | head -30

Pointing PYTHONPATH at a `git archive` of an older commit measures that commit the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.openai_images import OpenAIAdapter
from bench.mock_openai import make_png, openai_body, parse_size
from gateway import finishing, responders
from gateway.canonical import CallContext, ImageRequest, OutputType
from gateway.generation import FinishedImage, Result
from gateway.process_tuning import keep_freed_buffers


async def one(adapter: OpenAIAdapter, req: ImageRequest) -> int:
    ctx = CallContext(request_id="r", provider_model="gpt-image-1", deadline=time.monotonic() + 60)
    result = await finishing.check_result("openai", req, await adapter.generate(req, ctx))
    images = [
        FinishedImage(i, image.data, image.info, image.seed, "openai", image.b64)  # type: ignore[attr-defined]
        for i, image in enumerate(result.images)
    ]
    final = Result("r", 0, images, None, "openai", "gpt-image-1", dict(result.raw), [], [])
    if req.output_type is OutputType.FILE:
        return len(responders.file_response(final).content)
    return len(responders.json_response(final).content)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="2m")
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--output-type", choices=["data_url", "file"], default="data_url")
    parser.add_argument("--profile", action="store_true", help="print the top cProfile entries")
    args = parser.parse_args()
    keep_freed_buffers()  # as every server worker does (gateway/asgi.py)
    body = openai_body(make_png(parse_size(args.size)))
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    req = ImageRequest(model="m", prompt="p", output_type=OutputType(args.output_type))
    async with httpx.AsyncClient(transport=transport) as client:
        adapter = OpenAIAdapter(provider="openai", settings={"api_key": "k"}, client=client)
        for _ in range(args.warmup):
            await one(adapter, req)
        profiler = cProfile.Profile() if args.profile else None
        start = time.process_time()
        size = 0
        if profiler is not None:
            profiler.enable()
        for _ in range(args.iterations):
            size = await one(adapter, req)
        spent = time.process_time() - start
        if profiler is not None:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
    print(
        f"{args.size} {args.output_type}: upstream body {len(body)} B, response {size} B, "
        f"CPU {spent / args.iterations * 1000:.2f} ms per request over {args.iterations}"
    )


if __name__ == "__main__":
    asyncio.run(main())
