"""Keep freed tensor memory in the process instead of handing it back to the OS (glibc only).

glibc serves every allocation above its mmap threshold (at most 32 MB) with a fresh mmap and
unmaps it on free. A render or training step here makes and frees many such buffers (ray
samples x features), so each one is page-faulted in again, zero-filled by the kernel. With mmap
off and trimming effectively off, freed buffers go back to malloc's heap and the next step reuses
them. Measured (`scripts/bench.py --only allocator`, research/results/bench_allocator.json: 8 labeled views
of default:car, one thread, 2-core AMD EPYC): 18.4 s CPU of which 8.3 s system time in 4.7M page
faults -> 10.7 s CPU, 0.8 s system, 0.28M faults (1.57x faster wall clock; face 1.65x).

The price is a higher resident peak (0.92 -> 1.43 GB there: the heap does not shrink after a big
step), so this is an explicit opt-in for command-line processes (`dnerf`, the scripts), never
done on import: a library user's process keeps its own allocator policy.
"""
from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
# Free heap above this is returned to the OS: 2**30 bytes keeps any step's buffers for reuse.
TRIM_THRESHOLD_BYTES = 1 << 30
# exact_resident_memory's threshold: anything larger than a few small tensors gets its own mapping.
EXACT_MMAP_THRESHOLD_BYTES = 1 << 17


def _libc():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None
    except OSError:
        return None


def exact_resident_memory(threshold_bytes: int = EXACT_MMAP_THRESHOLD_BYTES) -> bool:
    """For memory measurements (scripts/bench.py): fix glibc's mmap threshold, so every buffer above
    it is its own mmap, unmapped when freed, and resident memory follows the live tensors. glibc's
    default *dynamic* threshold rises after a big free and later buffers come from a heap that is
    not trimmed: the same computation then measured 48 or 96 MB from run to run. False elsewhere."""
    libc = _libc()
    return libc is not None and libc.mallopt(M_MMAP_THRESHOLD, threshold_bytes) == 1


def retain_freed_memory() -> bool:
    """Switch glibc malloc to reuse freed large buffers; False (nothing changed) elsewhere."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
