"""The three systems the benchmark drives: direct-to-upstream, imagegate (ours), LiteLLM proxy.

Each `start_*` launches a server pinned to the system-under-test CPU and returns a `Target` the load
driver can hit: its port, path, request body, and how each request authenticates.
"""

from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Child, free_port, pinned, wait_http

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "a lighthouse at dusk, oil painting"
OPENAI_BODY = {"model": "gpt-image-1", "prompt": PROMPT, "n": 1, "size": "1024x1024"}


@dataclass
class Target:
    name: str
    port: int
    path: str
    body: bytes
    signed: bool = False  # each request needs a fresh SIWX envelope
    static_header: str = ""  # "Name: value" sent on every request
    child: Child | None = None
    pid: int | None = None  # whose CPU time is charged to the requests (the server, or the mock)


def start_mock(size: str, latency_ms: float, cpus: str | None, log_dir: Path) -> tuple[Child, int]:
    port = free_port()
    cmd = [sys.executable, str(ROOT / "bench" / "mock_openai.py"), "--port", str(port), "--size", size]
    cmd += ["--latency-ms", str(latency_ms)]
    child = Child.start(f"mock-{size}-{int(latency_ms)}ms", pinned(cmd, cpus), log_dir)
    wait_http(port, "/health", proc=child.proc)
    return child, port


def direct(upstream_port: int, mock: Child) -> Target:
    body = json.dumps(OPENAI_BODY).encode()
    return Target("direct", upstream_port, "/v1/images/generations", body, pid=mock.proc.pid)


def ours_config(upstream_port: int, auth: bool, redis_url: str | None) -> str:
    """The routing YAML for imagegate: one model on the OpenAI adapter pointed at the mock."""
    auth_block = (
        "auth:\n  enabled: true\n  domains: [bench.local]\n  origins: ['https://bench.local']\n"
        "  chains: ['eip155:1', 'solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp']\n  replay: single_use\n"
        if auth
        else "auth:\n  enabled: false\n"
    )
    return (
        "server:\n  max_body_bytes: 1048576\n  request_deadline_seconds: 60\n"
        "providers:\n  upstream:\n    adapter: openai\n    settings:\n"
        f"      base_url: http://127.0.0.1:{upstream_port}/v1\n      api_key: sk-bench-not-a-key\n"
        "models:\n  bench-image:\n    deployments:\n      - provider: upstream\n        model: gpt-image-1\n"
        + auth_block
        # Both rate-limit scopes on (checked in Redis on every request) but far above any bench rate.
        + "limits:\n  ip: {rate: 1000000, period_seconds: 1, burst: 1000000}\n"
        "  account: {rate: 1000000, period_seconds: 1, burst: 1000000}\n"
    )


def start_ours(
    upstream_port: int, cpus: str | None, log_dir: Path, *, auth: bool, redis_url: str | None, workers: int = 1
) -> Target:
    port = free_port()
    config = log_dir / "imagegate.yaml"
    config.write_text(ours_config(upstream_port, auth, redis_url))
    env = {"REDIS_URL": redis_url or "", "IMAGEGATE_LOG_LEVEL": "warning"}
    cmd = [str(Path(sys.executable).parent / "imagegate"), "serve", "--config", str(config)]
    cmd += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    child = Child.start("imagegate", pinned(cmd, cpus), log_dir, env)
    wait_http(port, "/healthz", proc=child.proc)
    body = {"model": "bench-image", "prompt": PROMPT, "output_format": "png"}
    return Target("ours", port, "/api/v1/image/generate", json.dumps(body).encode(), auth, "", child, child.proc.pid)


def litellm_config(upstream_port: int, master_key: str) -> str:
    return (
        "model_list:\n  - model_name: bench-image\n    litellm_params:\n      model: openai/gpt-image-1\n"
        f"      api_base: http://127.0.0.1:{upstream_port}/v1\n      api_key: sk-bench-not-a-key\n"
        "litellm_settings:\n  drop_params: true\n  set_verbose: false\n"
        f"general_settings:\n  master_key: {master_key}\n"
    )


def start_litellm(litellm: str, upstream_port: int, cpus: str | None, log_dir: Path, workers: int = 1) -> Target:
    port = free_port()
    config = log_dir / "litellm.yaml"
    master_key = f"sk-bench-{secrets.token_hex(16)}"  # LiteLLM refuses to start without one
    config.write_text(litellm_config(upstream_port, master_key))
    cmd = [litellm, "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--num_workers", str(workers)]
    env = {"LITELLM_LOG": "ERROR", "LITELLM_MODE": "PRODUCTION", "DISABLE_SCHEMA_UPDATE": "true"}
    child = Child.start("litellm", pinned(cmd, cpus), log_dir, env)
    wait_http(port, "/health/liveliness", timeout=180, proc=child.proc)
    body = {"model": "bench-image", "prompt": PROMPT, "n": 1, "size": "1024x1024"}
    auth = f"Authorization: Bearer {master_key}"
    return Target("litellm", port, "/v1/images/generations", json.dumps(body).encode(), False, auth, child, child.proc.pid)
