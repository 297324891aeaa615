"""A fault-injecting fake image provider on a loopback port, for the reliability suite.

It speaks the OpenAI images API (`POST /v1/images/generations` -> `{"created", "data": [{"b64_json"}]}`)
and the BFL submit / poll / download flow (`POST /v1/<model>` -> `{"id", "polling_url"}`,
`GET /v1/get_result?id=` -> `{"status": "Ready", "result": {"sample"}}`, `GET /results/<id>.png`),
over hand-written HTTP/1.1 on a raw asyncio server, so it can do what a framework would not: hang
after reading the request, reset the connection before or in the middle of the response body,
drip a body byte by byte, or send malformed JSON.

It runs on its own event loop in a daemon thread, so both in-process apps and gateway
subprocesses can call it, and the test drives it through plain thread-safe methods:

    upstream = FakeUpstream().start()
    upstream.configure(Behaviour(faults=[(0.3, Fault.status_code(503))], seed=7))
    ... run load ...
    stats = upstream.snapshot()     # submits, per-prompt submit counts, in-flight peak, headers seen

Every generation POST whose body was read completely counts as a *submit* (what a provider bills),
keyed by its prompt, so a test that gives each request a unique prompt sees duplicate billing.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import json
import random
import socket
import struct
import threading
import time
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from tests.fakes.bfl import pending_payload, ready_payload, submit_payload
from tests.fakes.openai import error_payload, images_payload
from tests.support.images import bomb_png, corrupt_idat_png, sized_png, truncated_png

FaultKind = Literal[
    "ok",
    "status",  # an error status with the provider's error body (+ Retry-After when set)
    "hang",  # read the request, then never answer (until the peer closes or the fake stops)
    "reset_before_response",  # read the request, then RST: the outcome is unknown to the caller
    "reset_mid_body",  # send the headers and half the body, then RST
    "malformed_json",  # 200 with a truncated JSON body
    "no_image",  # 200 with `"data": []`
    "slow_drip",  # a valid 200 body sent a few bytes at a time
    "wrong_content_type",  # 200 text/html
    "redirect",  # 302 to `location`
    # Provider output the gateway must survive (issue 14, items 1-2): a 200 whose images or size are hostile.
    "truncated_png",  # b64_json of a PNG cut in half (signature and IHDR intact)
    "corrupt_idat",  # b64_json of a PNG with intact chunk framing and CRCs but garbage zlib data
    "bomb_png",  # b64_json of a ~260 KB PNG that decodes to 8192x8192 RGBA (256 MiB of pixels)
    "huge_body",  # a 100 MB JSON body, chunked (no Content-Length), sent until the peer hangs up
    "gzip_bomb",  # a ~200 KB gzip body (Content-Encoding: gzip) that inflates to 200 MB
    "long_string",  # a valid image plus a 20 MiB non-base64 string field (`revised_prompt`)
    "many_images",  # 300 valid images whatever `n` asked for
]


@dataclass(frozen=True)
class Fault:
    kind: FaultKind = "ok"
    status: int = 200
    retry_after: float | None = None
    location: str | None = None
    message: str | None = None  # `status`: replaces the provider error body's message (untrusted text)

    @classmethod
    def status_code(
        cls, status: int, *, retry_after: float | None = None, message: str | None = None
    ) -> Fault:
        return cls(kind="status", status=status, retry_after=retry_after, message=message)


OK = Fault()


@dataclass(frozen=True)
class Latency:
    """Response latency in ms: `fixed`, `uniform(low, high)` or `lognormal(median, sigma)`."""

    kind: Literal["fixed", "uniform", "lognormal"] = "fixed"
    a: float = 0.0
    b: float = 0.0

    def sample_ms(self, rng: random.Random) -> float:
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        if self.kind == "lognormal":
            return self.a * rng.lognormvariate(0.0, self.b)
        return self.a


@dataclass(frozen=True)
class Behaviour:
    """What the fake does with each generation submit (polls and downloads always succeed).

    `script` faults apply to the first submits in order; after that each submit draws one fault from
    `faults` (probability, fault) with a seeded RNG, and gets OK with the remaining probability.
    """

    faults: tuple[tuple[float, Fault], ...] = ()
    script: tuple[Fault, ...] = ()
    latency: Latency = Latency()
    seed: int = 0
    drip_chunk_bytes: int = 64
    drip_interval_s: float = 0.02
    bfl_polls_pending: int = 0  # BFL: "Pending" answers before "Ready"
    bfl_polling_url: str | None = None  # BFL: override the polling_url handed out (SSRF tricks)
    bfl_sample_url: str | None = None  # BFL: override result.sample (SSRF tricks)

    def __post_init__(self) -> None:
        if sum(p for p, _ in self.faults) > 1.0 + 1e-9:
            raise ValueError("fault probabilities add up to more than 1")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when the request was fully read
    fault: str


@dataclass
class Stats:
    submits: int = 0
    submits_by_prompt: Counter[str] = field(default_factory=Counter)
    submit_times: dict[str, list[float]] = field(default_factory=dict)  # prompt -> monotonic times
    outcomes: Counter[str] = field(default_factory=Counter)  # fault label -> count
    requests: list[Recorded] = field(default_factory=list)
    connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    peer_closed_early: int = 0  # the caller hung up before the fake answered (work cancelled)
    polls: int = 0
    downloads: int = 0

    def duplicates(self) -> dict[str, int]:
        return {prompt: n for prompt, n in self.submits_by_prompt.items() if n > 1}


class _PeerClosed(Exception):
    pass


_REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests"}


class FakeUpstream:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._lock = threading.Lock()
        self._behaviour = Behaviour()
        self._rng = random.Random(0)
        self._script: list[Fault] = []
        self._stats = Stats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._release: asyncio.Event | None = None
        self._ready = threading.Event()
        self._jobs: dict[str, int] = {}  # BFL job id -> polls answered
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    # ---- control API (called from the test thread) -------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeUpstream:
        self._thread = threading.Thread(target=self._run, name=f"fake-upstream-{self.host}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake upstream did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def configure(self, behaviour: Behaviour) -> None:
        """Replace the behaviour (and restart its RNG and script). Stats are kept; see reset()."""
        with self._lock:
            self._behaviour = behaviour
            self._rng = random.Random(behaviour.seed)
            self._script = list(behaviour.script)

    def reset(self) -> None:
        with self._lock:
            self._stats = Stats()

    def snapshot(self) -> Stats:
        with self._lock:
            return copy.deepcopy(self._stats)

    def release_hangs(self) -> None:
        """Let every hung request finish (it then gets a connection close, never a response)."""
        if self._loop is not None and self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)

    # ---- server -----------------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.run_until_complete(self._listen())
        self._ready.set()
        loop.run_forever()
        loop.close()

    async def _listen(self) -> None:
        self._release = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, self.host, self.port or 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        assert self._server is not None and self._release is not None
        self._release.set()
        self._server.close()
        for writer in list(self._handlers.values()):
            writer.transport.abort()  # handlers waiting for the next request see EOF and return
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=2)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self._stats.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                keep_alive = await self._dispatch(request, reader, writer)
                if not keep_alive:
                    return
        except (ConnectionError, _PeerClosed, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            self._handlers.pop(task, None)
            with contextlib.suppress(Exception):
                writer.close()

    async def _dispatch(
        self,
        request: tuple[str, str, dict[str, str], bytes],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        method, target, headers, body = request
        path = urlsplit(target).path
        if method == "POST" and (path.endswith("/images/generations") or path.startswith("/v1/flux")):
            return await self._submit(method, target, headers, body, reader, writer)
        self._record(method, target, headers, body, "other")
        if method == "GET" and path.endswith("/get_result"):
            return await self._poll(target, writer)
        if method == "GET" and path.startswith("/results/"):
            with self._lock:
                self._stats.downloads += 1
            await _respond(writer, 200, sized_png(64, 64), "image/png")
            return True
        await _respond(writer, 404, b'{"error": {"message": "not found"}}')
        return True

    async def _submit(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        fault, delay_s, behaviour = self._draw()
        prompt = _prompt_of(body)
        self._record(method, target, headers, body, _label(fault), prompt=prompt)
        with self._lock:
            self._stats.in_flight += 1
            self._stats.max_in_flight = max(self._stats.max_in_flight, self._stats.in_flight)
        try:
            if delay_s > 0:
                await self._wait_or_peer_close(reader, delay_s)
            return await self._answer(fault, behaviour, target, body, reader, writer)
        finally:
            with self._lock:
                self._stats.in_flight -= 1

    def _draw(self) -> tuple[Fault, float, Behaviour]:
        with self._lock:
            behaviour = self._behaviour
            delay = behaviour.latency.sample_ms(self._rng) / 1000
            if self._script:
                return self._script.pop(0), delay, behaviour
            draw = self._rng.random()
            for probability, fault in behaviour.faults:
                if draw < probability:
                    return fault, delay, behaviour
                draw -= probability
            return OK, delay, behaviour

    async def _wait_or_peer_close(self, reader: asyncio.StreamReader, seconds: float | None) -> None:
        """Sleep (None: until released), but notice a caller that hangs up meanwhile."""
        assert self._release is not None
        eof = asyncio.ensure_future(reader.read(1))
        release = asyncio.ensure_future(self._release.wait())
        try:
            done, _ = await asyncio.wait({eof, release}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (eof, release):
                task.cancel()
            # Let the cancelled read unwind before the connection reads its next request: a
            # StreamReader allows one waiter, and a stale one makes the next readuntil() fail.
            await asyncio.gather(eof, release, return_exceptions=True)
        if eof in done and not eof.cancelled() and eof.result() == b"":
            with self._lock:
                self._stats.peer_closed_early += 1
            raise _PeerClosed
        if release in done:
            raise _PeerClosed  # hung requests are released by closing the connection

    async def _answer(
        self,
        fault: Fault,
        behaviour: Behaviour,
        target: str,
        body: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        ok_body = self._ok_body(target, body, behaviour)
        if fault.kind == "ok":
            await _respond(writer, 200, ok_body)
        elif fault.kind == "status":
            extra = {} if fault.retry_after is None else {"Retry-After": _seconds(fault.retry_after)}
            await _respond(writer, fault.status, _error_body(fault.status, fault.message), extra=extra)
        elif fault.kind == "hang":
            await self._wait_or_peer_close(reader, None)
        elif fault.kind == "reset_before_response":
            _reset(writer)
            return False
        elif fault.kind == "reset_mid_body":
            head = _head(200, "application/json", len(ok_body))
            writer.write(head + ok_body[: len(ok_body) // 2])
            await writer.drain()
            _reset(writer)
            return False
        elif fault.kind == "malformed_json":
            await _respond(writer, 200, b'{"created": 1, "data": [{"b64_json": "iVBOR')
        elif fault.kind == "no_image":
            await _respond(writer, 200, b'{"created": 1, "data": []}')
        elif fault.kind == "wrong_content_type":
            await _respond(writer, 200, b"<html>maintenance</html>", "text/html")
        elif fault.kind == "redirect":
            await _respond(writer, 302, b"", extra={"Location": fault.location or "/"})
        elif fault.kind in _HOSTILE:
            return await _HOSTILE[fault.kind](writer, _n_and_size(body))
        elif fault.kind == "slow_drip":
            writer.write(_head(200, "application/json", len(ok_body)))
            for i in range(0, len(ok_body), behaviour.drip_chunk_bytes):
                writer.write(ok_body[i : i + behaviour.drip_chunk_bytes])
                await writer.drain()
                await asyncio.sleep(behaviour.drip_interval_s)
        return True

    def _ok_body(self, target: str, body: bytes, behaviour: Behaviour) -> bytes:
        if urlsplit(target).path.startswith("/v1/flux"):
            job = uuid.uuid4().hex
            with self._lock:
                self._jobs[job] = 0
            polling = behaviour.bfl_polling_url or f"{self.url}/v1/get_result?id={job}"
            return json.dumps(submit_payload(job, polling)).encode()
        n, (width, height) = _n_and_size(body)
        return _images_body([sized_png(width, height)] * n)

    async def _poll(self, target: str, writer: asyncio.StreamWriter) -> bool:
        job = parse_qs(urlsplit(target).query).get("id", [""])[0]
        with self._lock:
            self._stats.polls += 1
            behaviour = self._behaviour
            answered = self._jobs.get(job)
            if answered is not None:
                self._jobs[job] = answered + 1
        if answered is None:
            await _respond(writer, 404, b'{"id": "", "status": "Task not found"}')
        elif answered < behaviour.bfl_polls_pending:
            await _respond(writer, 200, json.dumps(pending_payload(job)).encode())
        else:
            sample = behaviour.bfl_sample_url or f"{self.url}/results/{job}.png"
            await _respond(writer, 200, json.dumps(ready_payload(job, sample, 1)).encode())
        return True

    def _record(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        fault: str,
        *,
        prompt: str | None = None,
    ) -> None:
        now = time.monotonic()
        with self._lock:
            stats = self._stats
            stats.requests.append(Recorded(method, target, headers, body[:4096], now, fault))
            stats.outcomes[fault] += 1
            if prompt is not None:
                stats.submits += 1
                stats.submits_by_prompt[prompt] += 1
                stats.submit_times.setdefault(prompt, []).append(now)


# ---- HTTP/1.1 plumbing --------------------------------------------------------------------------


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    body = await reader.readexactly(length) if length else b""
    return method, target, headers, body


def _head(status: int, content_type: str, length: int, extra: dict[str, str] | None = None) -> bytes:
    reason = _REASONS.get(status, "Error")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}", f"Content-Length: {length}"]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    *,
    extra: dict[str, str] | None = None,
) -> None:
    writer.write(_head(status, content_type, len(body), extra) + body)
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort with SO_LINGER 0, so the peer sees a TCP RST rather than a clean close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _error_body(status: int, override: str | None = None) -> bytes:
    return json.dumps(error_payload(status, override)).encode()


def _prompt_of(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return "<undecodable>"
    return str(data.get("prompt", "")) if isinstance(data, dict) else "<not an object>"


def _n_and_size(body: bytes) -> tuple[int, tuple[int, int]]:
    try:
        data = json.loads(body)
        n = max(1, min(10, int(data.get("n", 1))))
        width, _, height = str(data.get("size", "64x64")).partition("x")
        return n, (max(1, min(2048, int(width))), max(1, min(2048, int(height))))
    except (ValueError, TypeError, AttributeError):
        return 1, (64, 64)


# ---- hostile provider output -------------------------------------------------------------------

HUGE_BODY_BYTES = 100 * 1000 * 1000


def _images_body(images: list[bytes], **extra: object) -> bytes:
    return json.dumps(images_payload(images, created=int(time.time()), **extra)).encode()


@functools.lru_cache(maxsize=1)
def _gzip_bomb() -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b" " * (1 << 20)
    return b"".join(packer.compress(block) for _ in range(200)) + packer.flush()


async def _hostile_images(writer: asyncio.StreamWriter, images: list[bytes], **extra: object) -> bool:
    await _respond(writer, 200, _images_body(images, **extra))
    return True


async def _huge_body(writer: asyncio.StreamWriter, _request: tuple[int, tuple[int, int]]) -> bool:
    """Chunked, so nothing declares the size up front: only reading shows how large it is."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    writer.write(head)
    piece = b"A" * (1 << 20)
    prefix = b'{"created": 1, "data": [{"b64_json": "'
    writer.write(b"%x\r\n%s\r\n" % (len(prefix), prefix))
    for _ in range(HUGE_BODY_BYTES // len(piece)):
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        await writer.drain()  # raises once the gateway hangs up, which is the point
    writer.write(b'3\r\n"}]\r\n0\r\n\r\n')
    await writer.drain()
    return False


async def _gzip(writer: asyncio.StreamWriter, _request: tuple[int, tuple[int, int]]) -> bool:
    await _respond(writer, 200, _gzip_bomb(), extra={"Content-Encoding": "gzip"})
    return False


LONG_STRING_CHARS = 20 * 1024 * 1024
_HOSTILE = {
    "truncated_png": lambda w, r: _hostile_images(w, [truncated_png(*r[1])] * r[0]),
    "corrupt_idat": lambda w, r: _hostile_images(w, [corrupt_idat_png(*r[1])] * r[0]),
    "bomb_png": lambda w, r: _hostile_images(w, [bomb_png()] * r[0]),
    "huge_body": _huge_body,
    "gzip_bomb": _gzip,
    "long_string": lambda w, r: _hostile_images(
        w, [sized_png(*r[1])] * r[0], revised_prompt="a cat, " * (LONG_STRING_CHARS // 7)
    ),
    "many_images": lambda w, r: _hostile_images(w, [sized_png(*r[1])] * 300),
}


def _label(fault: Fault) -> str:
    return f"status_{fault.status}" if fault.kind == "status" else fault.kind
