"""What `dispatch.py --profile` adds: where the engine's time goes by area of the code (cProfile), what
it adds on top of its write baseline, and where the in-flight runs' memory was allocated (tracemalloc)."""

from __future__ import annotations

import cProfile
import io
import pstats
import tracemalloc
from pathlib import Path
from types import CodeType

ROOT = Path(__file__).resolve().parents[2]
KIB = 1024

# Where profiled time is spent, by area: (path prefix, label); our packages first.
_AREAS = (
    ("states/", "states (our machines)"),
    ("actors/", "actors (our actors)"),
    ("engine/store/", "engine.store (our store)"),
    ("engine/", "engine (our other modules)"),
    ("benchmarks/", "the benchmark and its no-op steps"),
    ("transitions/", "transitions"),
    ("sqlalchemy/", "sqlalchemy"),
    ("asyncpg/", "asyncpg"),
    ("aiosqlite/", "aiosqlite"),
    ("anyio/", "anyio"),
    ("asyncio/", "asyncio"),
    ("selectors.py", "asyncio"),
    ("msgspec/", "msgspec"),
)


def shorten(filename: str) -> str:
    for prefix in ("site-packages/", str(ROOT) + "/", "python3.11/"):
        if prefix in filename:
            return filename.split(prefix, 1)[1]
    return filename


def memory_sites(before: tracemalloc.Snapshot, during: tracemalloc.Snapshot, count: int) -> list[str]:
    """Where the in-flight runs' memory was allocated: by file, then the top lines."""
    lines = []
    by_file = during.compare_to(before, "filename")
    total = sum(stat.size_diff for stat in by_file)
    lines.append(f"in flight: {total / count / KIB:.1f} KiB per run; by file:")
    for stat in by_file[:18]:
        lines.append(
            f"  {stat.size_diff / count:7.0f} B/run {stat.size_diff / total:6.1%} "
            f"{stat.count_diff / count:5.1f} blocks/run  {shorten(stat.traceback[0].filename)}"
        )
    lines.append("by line:")
    for stat in during.compare_to(before, "lineno")[:25]:
        frame = stat.traceback[0]
        lines.append(f"  {stat.size_diff / count:7.0f} B/run  {shorten(frame.filename)}:{frame.lineno}")
    return lines


def area_of(filename: str, function: str) -> str:
    if filename == "~":
        if "epoll" in function:
            return "idle in epoll (waiting for the database or a thread)"
        if "SimpleQueue" in function:
            return "hand-offs to aiosqlite's thread (queue put)"
        return "C built-ins"
    path = shorten(filename)
    for prefix, label in _AREAS:
        if path.startswith(prefix):
            return label
    return f"other: {path.split('/')[0]}"


def own_time_by_area(profile: cProfile.Profile) -> dict[str, float]:
    by_area: dict[str, float] = {}
    for entry in profile.getstats():
        code = entry.code
        # A built-in has no code object, only a description; pstats files those under "~".
        filename, function = (code.co_filename, code.co_name) if isinstance(code, CodeType) else ("~", code)
        label = area_of(filename, function)
        by_area[label] = by_area.get(label, 0.0) + entry.inlinetime
    return by_area


def top_functions(profile: cProfile.Profile, top: int = 30) -> str:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def area_table(profile: cProfile.Profile) -> str:
    by_area = own_time_by_area(profile)
    total = sum(by_area.values())
    lines = [f"own time {total:.2f} s, by area:"]
    for label, own in sorted(by_area.items(), key=lambda item: -item[1]):
        if own / total >= 0.002:
            lines.append(f"  {own / total:6.1%}  {own:6.2f} s  {label}")
    return "\n".join(lines)


def extra_table(engine: cProfile.Profile, baseline: cProfile.Profile, steps: int) -> str:
    """Own time per step of the engine's runs against the baseline's replays, by area: what the engine
    adds on top of its writes, and where."""
    ours, theirs = own_time_by_area(engine), own_time_by_area(baseline)
    extra = {label: ours.get(label, 0.0) - theirs.get(label, 0.0) for label in ours.keys() | theirs.keys()}
    added = sum(extra.values())
    lines = [
        f"own time per step under cProfile: engine {sum(ours.values()) / steps * 1e6:.0f} µs, "
        f"baseline {sum(theirs.values()) / steps * 1e6:.0f} µs, added {added / steps * 1e6:.0f} µs; by area:",
        f"  {'engine':>8} {'baseline':>9} {'added':>8} {'of added':>8}  (µs per step)",
    ]
    for label, more in sorted(extra.items(), key=lambda item: -item[1]):
        if abs(more) / max(added, 1e-9) >= 0.005:
            lines.append(
                f"  {ours.get(label, 0.0) / steps * 1e6:8.0f} {theirs.get(label, 0.0) / steps * 1e6:9.0f} "
                f"{more / steps * 1e6:8.0f} {more / added:8.1%}  {label}"
            )
    return "\n".join(lines)
