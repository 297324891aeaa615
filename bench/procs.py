"""Process plumbing for the benchmark: free loopback ports, pinned child processes, RSS sampling."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(cmd: Sequence[str], cpus: str | None) -> list[str]:
    """Prefix `cmd` with `taskset -c cpus` when taskset exists and a CPU list was given."""
    if cpus and shutil.which("taskset"):
        return ["taskset", "-c", cpus, *cmd]
    return list(cmd)


def wait_http(port: int, path: str = "/", timeout: float = 90.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until `GET path` on the port answers (any status)."""
    deadline = time.monotonic() + timeout
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(request)
                if sock.recv(16).startswith(b"HTTP/1."):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"nothing answered on 127.0.0.1:{port}{path} within {timeout}s")


@dataclass
class Child:
    """A started process whose output goes to a log file; stopped with SIGINT then SIGKILL."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, cmd: Sequence[str], log_dir: Path, env: dict[str, str] | None = None) -> Child:
        log = log_dir / f"{name}.log"
        handle = log.open("ab")
        proc = subprocess.Popen(
            list(cmd), stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        handle.close()
        return cls(name, proc, log)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` and its children (uvicorn may fork), in KiB."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and its children so far (from /proc), in seconds."""
    ticks = 0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def loaded(pid: int, *needles: str) -> dict[str, bool]:
    """Which of `needles` (e.g. "uvloop/loop") appear among the shared objects `pid` has mapped."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return {}
    return {needle: needle in maps for needle in needles}


def _children(pid: int) -> list[int]:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    out = [int(k) for k in kids]
    for kid in list(out):
        out.extend(_children(kid))
    return out


@dataclass
class RssSampler:
    """Samples a process tree's RSS every `interval` seconds on a background thread."""

    pid: int
    interval: float = 1.0
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        started = time.monotonic()

        def run() -> None:
            while not self._stop.is_set():
                self.samples.append((time.monotonic() - started, rss_kib(self.pid)))
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
