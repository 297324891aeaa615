"""Streaming provider fakes for httpx.MockTransport (async handlers, streamed bodies), fed by the
provider fixtures. Each records what upstream work happened, so tests can assert it stopped."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from tests.adapters.fakes import distinct_png

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "streaming"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


class Body(httpx.AsyncByteStream):
    """A response body sent chunk by chunk; `hang` blocks after the chunks until the reader leaves."""

    def __init__(self, chunks: list[bytes], *, hang: bool = False, drop: bool = False, on_close: Callable[[], None]) -> None:
        self._chunks, self._hang, self._drop, self._on_close = chunks, hang, drop, on_close

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk
            await asyncio.sleep(0)
        if self._hang:
            await asyncio.Event().wait()
        if self._drop:
            raise httpx.ReadError("connection reset by peer")

    async def aclose(self) -> None:
        self._on_close()


class StreamingOpenAI:
    """POST /v1/images/generations with `stream: true`: the fixture's SSE events, per-call behaviour.

    mode(call_number) -> "ok" | "error_event" (a partial, then an error object) | "hang" (a partial,
    then nothing until the client goes away) | "drop" (a partial, then a connection reset) |
    "http_500" (an error status before any event) | "nested_event" (a partial, then `data: [[[...`).
    """

    def __init__(self, mode: Callable[[int], str] = lambda call: "ok") -> None:
        self.mode = mode
        self.bodies: list[dict[str, Any]] = []
        self.closed = 0  # response bodies closed by the client (finished or abandoned)

    @property
    def calls(self) -> int:
        return len(self.bodies)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/images/generations")
        self.bodies.append(json.loads(request.content))
        mode = self.mode(self.calls)
        if mode == "http_500":
            return httpx.Response(500, json={"error": {"message": "The server had an error", "type": "server_error"}})
        events = fixture("openai/stream_events.json")
        events[-1]["b64_json"] = base64.b64encode(distinct_png(self.calls)).decode()
        if mode == "error_event":
            events = [events[0], {"error": {"code": "server_error", "message": "stream failed", "type": "server_error"}}]
        elif mode in ("hang", "drop"):
            events = events[:1]
        chunks = [f"event: {e.get('type', 'error')}\ndata: {json.dumps(e)}\n\n".encode() for e in events]
        if mode == "nested_event":  # a preview, then an event nested past any JSON decoder's depth limit
            chunks = [chunks[0], b"data: " + b"[" * 100_000 + b"\n\n"]
        body = Body(chunks, hang=mode == "hang", drop=mode == "drop", on_close=self._closed)
        return httpx.Response(200, headers={"content-type": "text/event-stream; charset=utf-8"}, stream=body)

    def _closed(self) -> None:
        self.closed += 1


class PollingBFL:
    """BFL submit -> polling_url (Pending with rising `progress`, then Ready) -> delivery download.

    task_mode(task_number) -> "ok" | "error" (status Error after the pending polls) | "hang" (the
    poll after the pending ones never answers) | "http_500" (submit fails).
    """

    def __init__(self, task_mode: Callable[[int], str] = lambda task: "ok", *, progress: tuple[float, ...] = (0.25, 0.5)) -> None:
        self.task_mode = task_mode
        self.progress = progress
        self.tasks = 0
        self.polls: dict[str, int] = {}
        self.poll_cancelled = 0
        self.hanging = asyncio.Event()  # set when a "hang" poll starts waiting

    async def handle(self, request: httpx.Request) -> httpx.Response:
        host, path = request.url.host, request.url.path
        if request.method == "POST" and host == "api.bfl.ai":
            self.tasks += 1
            if self.task_mode(self.tasks) == "http_500":
                return httpx.Response(500, json={"detail": "Internal Server Error"})
            task = f"task-{self.tasks}"
            return httpx.Response(200, json={"id": task, "polling_url": f"https://api.us1.bfl.ai/v1/get_result?id={task}"})
        if host == "api.us1.bfl.ai" and path == "/v1/get_result":
            return await self._poll(request.url.params["id"])
        if host == "delivery-us1.bfl.ai":
            task = int(path.rsplit("-", 1)[1])
            return httpx.Response(200, content=distinct_png(task), headers={"content-type": "image/png"})
        return httpx.Response(404, json={"detail": "Not Found"})

    async def _poll(self, task: str) -> httpx.Response:
        count = self.polls[task] = self.polls.get(task, 0) + 1
        number = int(task.rsplit("-", 1)[1])
        if count <= len(self.progress):
            return httpx.Response(200, json={"id": task, "status": "Pending", "result": None, "progress": self.progress[count - 1]})
        mode = self.task_mode(number)
        if mode == "hang":
            self.hanging.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.poll_cancelled += 1
                raise
        if mode == "error":
            return httpx.Response(200, json={"id": task, "status": "Error", "result": None, "details": {"error": "GPU fault"}})
        ready = fixture("bfl/get_result_ready.json")
        ready["id"] = task
        ready["result"]["sample"] = f"https://delivery-us1.bfl.ai/results/sample-{number}"
        return httpx.Response(200, json=ready)


def _png_b64(i: int) -> str:
    return base64.b64encode(distinct_png(i)).decode()


class ProgressA1111:
    """A1111: POST /sdapi/v1/txt2img runs until its job has been polled `len(steps)` times on
    /sdapi/v1/progress (which reports those steps and a preview each), then answers.

    mode(call_number) -> "ok" | "http_500" (answers 500 once polled out) | "hang" (never answers).
    """

    def __init__(self, mode: Callable[[int], str] = lambda call: "ok", *, steps: tuple[int, ...] = (5, 10, 15)) -> None:
        self.mode = mode
        self.steps = steps
        self.calls = 0
        self.polls = 0
        self.txt2img_cancelled = 0
        self.polls_after_cancel = 0
        self.running = asyncio.Event()  # set while a job is in flight
        self._job_polls = 0
        self._polled_out = asyncio.Event()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/sdapi/v1/txt2img":
            return await self._txt2img(json.loads(request.content))
        if request.url.path == "/sdapi/v1/progress":
            return self._progress()
        return httpx.Response(404, json={"detail": "Not Found"})

    async def _txt2img(self, body: dict[str, Any]) -> httpx.Response:
        self.calls += 1
        mode = self.mode(self.calls)
        self._job_polls, self._polled_out = 0, asyncio.Event()
        self.running.set()
        try:
            if mode == "hang":
                await asyncio.Event().wait()
            await self._polled_out.wait()
        except asyncio.CancelledError:
            self.txt2img_cancelled += 1
            raise
        finally:
            self.running.clear()
        if mode == "http_500":
            return httpx.Response(500, json={"error": "OutOfMemoryError", "detail": "", "body": "", "errors": "CUDA out of memory"})
        n = body.get("n_iter", 1) * body.get("batch_size", 1)
        seeds = [body["seed"] + i if body.get("seed", -1) != -1 else 1000 + i for i in range(n)]
        info = json.loads(fixture("a1111/txt2img_200.json")["info"]) | {"all_seeds": seeds, "seed": seeds[0], "index_of_first_image": 0}
        images = [_png_b64(self.calls * 16 + i) for i in range(n)]
        return httpx.Response(200, json={"images": images, "parameters": body, "info": json.dumps(info)})

    def _progress(self) -> httpx.Response:
        self.polls += 1
        if self.txt2img_cancelled:
            self.polls_after_cancel += 1
        body = fixture("a1111/progress_200.json")
        if not self.running.is_set():
            body["state"] |= {"job_count": 0, "sampling_step": 0}
            body["current_image"] = None
            return httpx.Response(200, json=body)
        self._job_polls += 1
        k = min(self._job_polls, len(self.steps))
        body["state"] |= {"sampling_step": self.steps[k - 1], "sampling_steps": 20}
        body["current_image"] = _png_b64(100 + k)
        if self._job_polls >= len(self.steps):
            self._polled_out.set()
        return httpx.Response(200, json=body)


COMFY_FIXTURE_ID = "0f6e3c2a-1b4d-4e8f-9a7b-6c5d4e3f2a1b"


def _comfy_fixture(name: str, prompt_id: str) -> Any:
    return json.loads((FIXTURES / "comfyui" / name).read_text().replace(COMFY_FIXTURE_ID, prompt_id))


class FakeWebSocket:
    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: asyncio.Queue[str | bytes] = asyncio.Queue()
        self.closed = False

    async def recv(self) -> str | bytes:
        return await self.frames.get()

    async def close(self) -> None:
        self.closed = True


class WebSocketComfy:
    """ComfyUI: /prompt -> websocket frames for that client's prompt (the fixture messages, another
    prompt's progress and preview interleaved, our preview after our progress) -> /history -> /view.

    mode(call_number) -> "ok" | "error" (execution_error; history reports the error) | "hang" (starts,
    reports progress and a preview, then goes quiet) | "queued" (never starts).
    """

    def __init__(self, mode: Callable[[int], str] = lambda call: "ok") -> None:
        self.mode = mode
        self.sockets: dict[str, FakeWebSocket] = {}
        self.prompts: list[dict[str, Any]] = []
        self.modes: dict[str, str] = {}
        self.cancels: list[tuple[str, Any]] = []  # (path, body) of /interrupt and /queue calls

    @property
    def calls(self) -> int:
        return len(self.prompts)

    async def connect(self, url: str) -> FakeWebSocket:
        socket = FakeWebSocket(url)
        self.sockets[httpx.URL(url).params["clientId"]] = socket
        return socket

    async def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/prompt":
            return self._queue(json.loads(request.content))
        if request.method == "POST" and path in ("/interrupt", "/queue"):
            self.cancels.append((path, json.loads(request.content)))
            return httpx.Response(200, json={})
        if path.startswith("/history/"):
            prompt_id = path.rsplit("/", 1)[1]
            name = "history_200_error.json" if self.modes[prompt_id] == "error" else "history_200_success.json"
            return httpx.Response(200, json=_comfy_fixture(name, prompt_id))
        if path == "/view":
            return httpx.Response(200, content=distinct_png(self.calls), headers={"content-type": "image/png"})
        return httpx.Response(404, json={"error": "not found"})

    def _queue(self, body: dict[str, Any]) -> httpx.Response:
        self.prompts.append(body)
        prompt_id = f"prompt-{self.calls}"
        mode = self.modes[prompt_id] = self.mode(self.calls)
        socket = self.sockets.get(body["client_id"])
        if socket is not None:
            for frame in self._frames(prompt_id, mode):
                socket.frames.put_nowait(frame)
        return httpx.Response(200, json={"prompt_id": prompt_id, "number": self.calls, "node_errors": {}})

    def _frames(self, prompt_id: str, mode: str) -> list[str | bytes]:
        from adapters.comfyui_ws import preview_frame

        if mode == "queued":
            return [json.dumps({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 2}}}})]
        messages = _comfy_fixture("ws_messages.json", prompt_id)
        other = {"type": "progress", "data": {"value": 3, "max": 9, "prompt_id": "someone-else", "node": "3"}}
        frames: list[str | bytes] = [json.dumps(m) for m in messages[:4]]  # status .. executing node 3
        frames += [json.dumps(other), preview_frame(b"\xff\xd8\xff\xe0their-preview")]
        frames += [json.dumps(messages[4]), preview_frame(_jpeg())]  # our progress 10/20 + our preview
        if mode == "hang":
            return frames
        if mode == "error":
            error = {"prompt_id": prompt_id, "node_id": "3", "node_type": "KSampler", "exception_type": "RuntimeError", "exception_message": "boom"}
            return [*frames, json.dumps({"type": "execution_error", "data": error})]
        return frames + [json.dumps(m) for m in messages[5:]]


def _jpeg() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 200, 30)).save(out, format="JPEG")
    return out.getvalue()
