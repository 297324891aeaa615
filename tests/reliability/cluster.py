"""Processes for the reliability suite: a Redis the test can pause, kill and restart, and N gateways.

    redis = ControlledRedis(free_port(), password="...").start()
    with GatewayCluster(2, routing_yaml, redis_url=redis.url, workdir=tmp_path) as cluster:
        redis.pause()      # SIGSTOP: TCP accepted, never answered
        redis.resume()     # SIGCONT
        redis.kill()       # SIGKILL
        redis.restart()    # same port, empty data set
        cluster.sighup()   # hot reload on every replica
        cluster.logs()     # everything the gateways wrote to stdout / stderr

Never the machine's Redis on 6379: every server here is our own, on a free loopback port.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import redis

from tests.support.redis_server import RedisServer, free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class ControlledRedis(RedisServer):
    password: str | None = None

    def __post_init__(self) -> None:
        if self.password:
            self.extra_args = [*self.extra_args, "--requirepass", self.password]

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.process is not None, "redis-server is not running"
        return self.process.pid

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1)

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(5)
        self.process = None

    def restart(self) -> ControlledRedis:
        """Start again on the same port (after kill()); the data set is empty, as after a crash."""
        self.start()
        return self

    def stop(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)  # a paused server cannot handle SIGTERM
        super().stop()


@dataclass
class GatewayProcess:
    """One `imagegate serve` subprocess on a free loopback port, its output captured to a file."""

    port: int
    config_path: Path
    log_path: Path
    env: dict[str, str]
    log_level: str = "info"
    nofile: int | None = None  # RLIMIT_NOFILE (soft = hard) for the gateway process
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayProcess:
        command = [
            sys.executable, "-m", "gateway", "serve",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--config", str(self.config_path), "--log-level", self.log_level,
        ]  # fmt: skip
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=self._set_limits if self.nofile is not None else None,
        )
        log.close()
        return self

    def _set_limits(self) -> None:
        """In the child, before exec: a hard file limit the gateway cannot raise."""
        assert self.nofile is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gateway on :{self.port} exited ({self.process.returncode}):\n{self.logs()}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"gateway on :{self.port} not ready:\n{self.logs()}")
            time.sleep(0.1)

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""


@dataclass
class GatewayCluster:
    """N gateway processes sharing one routing file and one Redis."""

    size: int
    routing_yaml: str
    workdir: Path
    redis_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    log_level: str = "info"
    nofile: int | None = None  # RLIMIT_NOFILE of each gateway process
    gateways: list[GatewayProcess] = field(default_factory=list)

    @property
    def config_path(self) -> Path:
        return self.workdir / "routing.yaml"

    @property
    def urls(self) -> list[str]:
        return [gateway.url for gateway in self.gateways]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "IMAGEGATE_CONFIG")}
        env.update(PYTHONUNBUFFERED="1", **self.extra_env)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        return env

    def start(self) -> GatewayCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.routing_yaml, encoding="utf-8")
        env = self.env()
        for i in range(self.size):
            log = self.workdir / f"gateway-{i}.log"
            gateway = GatewayProcess(free_port(), self.config_path, log, env, self.log_level, self.nofile)
            self.gateways.append(gateway.start())
        try:
            for gateway in self.gateways:
                gateway.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def rewrite_config(self, routing_yaml: str) -> None:
        """Replace the routing file atomically (rename), as an operator's deploy tool would."""
        staged = self.config_path.with_suffix(".staged")
        staged.write_text(routing_yaml, encoding="utf-8")
        staged.replace(self.config_path)

    def sighup(self) -> None:
        for gateway in self.gateways:
            gateway.signal(signal.SIGHUP)

    def stop(self) -> None:
        for gateway in self.gateways:
            gateway.stop()

    def logs(self) -> str:
        return "\n".join(gateway.logs() for gateway in self.gateways)

    def __enter__(self) -> GatewayCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
