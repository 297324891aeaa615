"""Hot reload of the routing YAML: SIGHUP, or an opt-in poll of the file (`server.watch_config_seconds`).

A valid file becomes a new Runtime that replaces `services.runtime` in one assignment: requests
that already read the old runtime finish on it, new ones get the new one. The old runtime's
adapters are closed once no request can still be using it (its longest deadline plus a second).
An invalid file is rejected with its errors logged; the running config keeps serving.
Circuit-breaker states and retry-budget windows carry over (they live on `services.router`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import msgspec

from gateway import metrics
from gateway.config import BUNDLED_CONFIG, RoutingConfig, load_config
from gateway.runtime import Runtime
from gateway.services import Services

log = logging.getLogger("imagegate.reload")

BuildRuntime = Callable[[RoutingConfig], Runtime]


class Reloader:
    def __init__(self, services: Services, path: str | None, build: BuildRuntime) -> None:
        self._services = services
        self._path = Path(path) if path else BUNDLED_CONFIG
        self._build = build
        self._lock = threading.Lock()  # reload() may be awaited from any loop (admin task, tests)
        self._loop: asyncio.AbstractEventLoop | None = None  # the app's loop, where timers run
        self._tasks: set[asyncio.Task[None]] = set()
        self._retired: list[Runtime] = []
        self._signal_installed = False

    async def reload(self) -> bool:
        """Re-read the file; True when the new config now serves."""
        try:  # in a thread: parsing is bounded (gateway/config/bounded_yaml.py) but never on the loop
            config = await asyncio.to_thread(load_config, self._path)
        except Exception as exc:  # ConfigError by design; anything else is still a rejected file
            return self._reject(exc)
        with self._lock:
            try:
                runtime = self._build(config)
            except Exception as exc:  # adapter settings errors arrive as ConfigError; anything else too
                return self._reject(exc)
            old = self._services.runtime
            self._services.router.configure(config)
            self._services.runtime = runtime  # the atomic swap
        metrics.CONFIG_RELOADS.labels("ok").inc()
        log.info("config reloaded from %s: models %s", self._path, ", ".join(config.models))
        # api_keys are read per request from the live config (a reload revokes); the rest is start-up only.
        if msgspec.structs.replace(config.auth, api_keys=[]) != msgspec.structs.replace(old.config.auth, api_keys=[]):
            log.warning("auth: section changed, but authentication settings apply at start-up only: restart")
        self._retire(old)
        return True

    def _reject(self, exc: Exception) -> bool:
        log.error("config reload REJECTED, the running config keeps serving: %s", exc)
        metrics.CONFIG_RELOADS.labels("failed").inc()
        return False

    def start(self) -> None:
        """Install the SIGHUP handler (main thread only) and, if configured, the file watch."""
        loop = self._loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGHUP, self._on_signal)
            self._signal_installed = True
        interval = self._services.runtime.config.server.watch_config_seconds
        if interval > 0:
            self._spawn(self._watch(interval))

    async def aclose(self) -> None:
        if self._signal_installed:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for runtime in self._retired:
            await runtime.aclose()
        self._retired.clear()

    def _on_signal(self) -> None:
        log.info("SIGHUP: reloading %s", self._path)
        self._spawn(self._reload_quietly())

    async def _reload_quietly(self) -> None:
        await self.reload()

    async def _watch(self, interval: float) -> None:
        seen = _fingerprint(self._path)
        while True:
            await asyncio.sleep(interval)
            current = _fingerprint(self._path)
            if current != seen:
                seen = current
                await self.reload()

    def _retire(self, old: Runtime) -> None:
        config = old.config
        longest = max(
            [config.server.request_deadline_seconds]
            + [m.deadline_seconds for m in config.models.values() if m.deadline_seconds]
        )
        self._retired.append(old)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(lambda: self._spawn(self._close_later(old, longest + 1.0)))

    async def _close_later(self, runtime: Runtime, delay: float) -> None:
        await asyncio.sleep(delay)
        if runtime in self._retired:
            self._retired.remove(runtime)
            await runtime.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _fingerprint(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size
