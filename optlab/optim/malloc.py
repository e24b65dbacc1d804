"""glibc's allocator kept from handing large freed arrays back to the OS, so that the next array of the
same size reuses the pages instead of faulting fresh zeroed ones in (issue 15, item 4)."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import lru_cache
from typing import Any

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest (HEAP_MAX/2 on 64-bit): arrays below it come from the heap
TRIM_THRESHOLD = 512 * 1024 * 1024  # free memory at the heap's top kept, up to this, for the next arrays
OPT_OUT = "OPTLAB_MALLOPT"  # set to 0 to leave the allocator as it is


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds (mallopt) unless OPTLAB_MALLOPT=0; True when set. A no-op
    elsewhere than glibc. Process-wide and for the process's life: freed memory stays in the process."""
    if os.environ.get(OPT_OUT, "1").strip() == "0":
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


@lru_cache(maxsize=1)
def _mallopt() -> Any:
    """glibc's mallopt, looked up once per process (find_library runs ldconfig: about 5 ms a call), or None."""
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt
