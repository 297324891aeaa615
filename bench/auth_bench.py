"""Verification cost per request: SIWX envelope -> principal, for EVM and Solana (no replay store I/O).

    .venv/bin/python -m bench.auth_bench [--requests 2000]

Measures `verify_token` (decode, parse, policy, signature: steps 1-9 of spec/siwx-auth.md) and the
signature step alone, each over distinct envelopes signed with throwaway keys; prints median and p99.
Asserts that EVM recovery runs on coincurve (libsecp256k1): the pure-Python backend is ~50x slower.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import coincurve
from eth_keys.backends import CoinCurveECCBackend, get_backend

from gateway.auth.policy import AuthPolicy
from gateway.auth.signatures import EVM_RECOVERY_BACKEND, verify_evm, verify_solana
from gateway.auth.siwx import verify_token
from gateway.client import EvmSigner, Signer, SolanaSigner, sign_header
from gateway.config.auth import AuthConfig

URL = "https://gateway.example/api/v1/image/generate"


def check_backend() -> str:
    """The recovery backend's module; raises AssertionError unless it is coincurve's C binding."""
    assert EVM_RECOVERY_BACKEND.startswith("coincurve"), EVM_RECOVERY_BACKEND
    assert coincurve._libsecp256k1.__file__.endswith(".so"), "coincurve is not the compiled binding"
    assert isinstance(get_backend(), CoinCurveECCBackend), "eth-keys is not on the coincurve backend"
    return f"{EVM_RECOVERY_BACKEND} ({coincurve._libsecp256k1.__file__.rsplit('/', 1)[-1]})"


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    function()
    return (time.perf_counter_ns() - start) / 1000.0  # microseconds


def run(signer_factory: Callable[[], Signer], requests: int, policy: AuthPolicy) -> dict[str, tuple[float, float]]:
    signers = [signer_factory() for _ in range(16)]
    tokens = [sign_header(URL, signers[i % len(signers)]) for i in range(requests)]
    now = datetime.now(UTC)
    for tok in tokens[:50]:  # warm-up
        verify_token(tok, policy, now)
    gc.disable()
    full = [timed(lambda t=tok: verify_token(t, policy, now)) for tok in tokens]  # type: ignore[misc]
    signature_only = []
    for tok in tokens:
        envelope = json.loads(base64.b64decode(tok))
        text, sig = envelope["message"].encode(), envelope["signature"]
        address = envelope["message"].split("\n")[1]
        verify = verify_evm if sig.startswith("0x") else verify_solana
        signature_only.append(timed(lambda v=verify, t=text, a=address, s=sig: v(t, a, s)))  # type: ignore[misc]
    gc.enable()
    return {"verify_token": percentiles(full), "signature": percentiles(signature_only)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)
    backend = check_backend()
    policy = AuthPolicy.build(AuthConfig(domains=["gateway.example"], origins=["https://gateway.example"]))
    out = sys.stdout
    out.write(f"EVM recovery backend: {backend}\n")
    out.write(f"{'chain':8} {'step':14} {'median us':>10} {'p99 us':>10}   ({args.requests} envelopes)\n")
    results = {
        "evm": run(EvmSigner.throwaway, args.requests, policy),
        "solana": run(SolanaSigner.throwaway, args.requests, policy),
    }
    for chain, steps in results.items():
        for step, (median, p99) in steps.items():
            out.write(f"{chain:8} {step:14} {median:10.1f} {p99:10.1f}\n")
    evm_median = results["evm"]["verify_token"][0]
    assert evm_median < 1000, f"EVM verification median {evm_median:.0f} us: is the C backend in use?"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
