"""The worker keeps freed image-sized buffers for reuse (gateway.process_tuning.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# A child holds four 2.8 MB buffers at once (a 2 MB image's base64 as body, text, response...) and
# frees them, 50 times, touching every page, and prints its minor page faults for the loop.
_CHURN = """
import resource, sys
from gateway.process_tuning import keep_freed_buffers
applied = keep_freed_buffers() if sys.argv[1] == "tuned" else None
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    buffers = [bytearray(2_800_000) for _ in range(4)]
    for buffer in buffers:
        buffer[::4096] = b"x" * len(range(0, 2_800_000, 4096))
    del buffers, buffer
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _churn(mode: str, **env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", _CHURN, mode], env={**clean, **env}, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_buffers_are_reused_instead_of_faulted_in_again() -> None:
    applied, tuned = _churn("tuned")
    _, default = _churn("default")
    assert applied == "True"
    # ~50 x 4 x 690 pages with glibc's defaults (the heap top is trimmed each time); a handful once kept.
    assert default > 50_000
    assert tuned < 6_000  # the first round only (4 x 690)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_an_operators_own_malloc_settings_win() -> None:
    applied, faults = _churn("tuned", MALLOC_MMAP_THRESHOLD_="131072")
    assert applied == "False" and faults > 50_000


def test_the_collector_settles_after_startup_and_still_collects_cycles() -> None:
    script = """
import gc, weakref
from gateway.process_tuning import GC_YOUNG_THRESHOLD, settle_garbage_collector
settle_garbage_collector()
class Node: pass
a, b = Node(), Node(); a.other, b.other = b, a
gone = weakref.ref(a); del a, b
gc.collect()
print(gc.get_freeze_count() > 0, gc.get_threshold()[0] == GC_YOUNG_THRESHOLD, gone() is None)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "True"]
