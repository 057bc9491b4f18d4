"""glibc malloc settings for a process that allocates and frees large tensors all the time.

PyTorch's CPU tensors come from malloc. glibc serves a request above its mmap threshold with fresh
pages from the kernel and gives freed memory at the top of the heap back above its trim threshold,
so the next tensor of that size touches new pages again: one minor page fault per 4 KiB. Generation
grows its KV cache by concatenation every step and training allocates (positions, vocabulary)
logits and gradients every step, so the quick demo took 4.4 million minor page faults. With both
thresholds at 1 GiB freed memory is reused: 0.77 million faults, 90.3 s instead of 96.4 s, peak
resident memory 3.78 GB instead of 3.70 GB (Intel Xeon, 2 cores; tests/benchmarks/README.md).
A process keeps memory it freed for reuse instead of returning it, as jemalloc and tcmalloc do.
"""

from __future__ import annotations

import ctypes
import os
import sys

THRESHOLD = 1 << 30
M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
OFF_VALUES = ("default", "off", "0")


def glibc() -> bool:
    """Whether this process runs on glibc (mallopt exists and means what the constants above say)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError):
        return False


def tune_malloc(threshold: int = THRESHOLD) -> bool:
    """Raise glibc's mmap and trim thresholds to `threshold` bytes for this process; True when both
    were set. `TUNEBENCH_MALLOC=default` leaves glibc's own settings. The mmap threshold goes first:
    setting either one stops glibc's dynamic adjustment of both, and a trim threshold alone, with
    the mmap threshold fixed at 128 KiB, made training twice as slow."""
    if os.environ.get("TUNEBENCH_MALLOC", "").strip().lower() in OFF_VALUES or not glibc():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold)) and bool(mallopt(M_TRIM_THRESHOLD, threshold))
