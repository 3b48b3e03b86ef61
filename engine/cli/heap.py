"""How `nomaflow serve`'s process hands memory back: large blocks (argon2's buffer for each password
check, 19-64 MiB) are mapped and unmapped on their own instead of being kept in malloc's per-thread
arenas, where each worker thread that once checked a password would keep its buffer for good.

glibc raises its mmap threshold to the size of the largest block freed so far, so after the first
password check every later buffer comes from an arena and stays there; pinning the threshold stops
that. Done only in the process Nomaflow owns (an app that embeds the engine can set glibc's
MALLOC_MMAP_THRESHOLD_ environment variable for the same effect). Elsewhere than glibc, nothing is done.
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
THRESHOLD_BYTES = 1024 * 1024  # blocks this large or larger are mapped on their own


def return_large_blocks() -> bool:
    """Pin glibc's mmap threshold; False where there is no glibc to ask."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES))
