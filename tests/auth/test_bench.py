"""The auth benchmark's backend check (timings belong to `python -m bench.auth_bench`, not to tests)."""

from __future__ import annotations

from bench.auth_bench import check_backend, percentiles


def test_evm_recovery_runs_on_coincurve() -> None:
    assert check_backend().startswith("coincurve.keys (_libsecp256k1")


def test_percentiles() -> None:
    assert percentiles([float(i) for i in range(1, 101)]) == (50.5, 100.0)
