"""How every benchmark prints: progress on stderr; on stdout a header with notes on the machine, its
figures (each against its baseline where it has one), and a verdict for each of its targets from
benchmarks/targets.toml, then the load at the end and the exit status (1 when a target was missed)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from benchmarks.harness import machine
from benchmarks.harness.targets import Target, TargetsError, in_unit, spell, targets_of

LABEL_WIDTH = 52


def say(message: str) -> None:
    """Progress, on stderr, so that stdout holds only the report."""
    print(message, file=sys.stderr, flush=True)


@contextmanager
def phase(what: str) -> Iterator[None]:
    """Progress for one phase of a benchmark: what it does, then how long it took."""
    say(what)
    begun = time.perf_counter()
    yield
    say(f"  {time.perf_counter() - begun:.0f} s")


class Report:
    """One benchmark's report. Its targets are read when it is made, so a broken targets.toml stops the
    benchmark before it measures anything rather than after."""

    def __init__(self, benchmark: str, title: str, *notes: str) -> None:
        self.benchmark = benchmark
        try:
            self.targets = targets_of(benchmark)
        except TargetsError as exc:
            raise SystemExit(f"{benchmark}: {exc}") from exc
        self.checked = 0
        self.missed: list[str] = []
        self.skipped: list[str] = []
        print(f"{title}\n{machine.notes(*notes)}", flush=True)

    def note(self, text: str) -> None:
        print(text, flush=True)

    def section(self, title: str) -> None:
        print(f"\n{title}", flush=True)

    def figure(self, label: str, value: str, *, times: float | None = None, against: str = "") -> None:
        """One measured figure; with `times` (a ratio, see stats.ratio), that figure against its baseline
        too: `sql_copy, pass-through   3.34 s   1.03x the psql pipe`."""
        line = f"  {label:<{LABEL_WIDTH}} {value}"
        if times is not None:
            line += f"   {spell(times, 'x')} {against}".rstrip()
        print(line, flush=True)

    def _target(self, name: str) -> Target:
        try:
            return self.targets[name]
        except KeyError:
            raise SystemExit(
                f"{self.benchmark}: benchmarks/targets.toml has no target {name!r} "
                f"(it has: {', '.join(self.targets)})"
            ) from None

    def check(self, name: str, value: float, *, where: str = "", detail: str = "") -> bool:
        """The verdict on one figure against its target. `value` is in seconds, bytes, a fraction or a
        plain ratio (the target's unit says how it reads); `where` says which contender or database it
        is for, `detail` what it was measured against."""
        target = self._target(name)
        passed = target.met(value)
        self.checked += 1
        subject = f"{target.figure}, {where}" if where else target.figure
        shown = spell(in_unit(value, target.unit), target.unit)
        if detail:
            shown += f" ({detail})"
        verdict = "PASS" if passed else "MISS"
        print(f"  {verdict}  {subject}: {shown}; target {target.wanted} (issue {target.issue})", flush=True)
        if not passed:
            self.missed.append(subject)
        return passed

    def skip(self, name: str, why: str, *, where: str = "") -> None:
        """A target this run could not check, and why (a peer not installed, a phase left out)."""
        target = self._target(name)
        subject = f"{target.figure}, {where}" if where else target.figure
        print(f"  SKIP  {subject}: {why}", flush=True)
        self.skipped.append(subject)

    def finish(self) -> int:
        """The closing lines (how many targets were met, the load average now); the exit status."""
        met = self.checked - len(self.missed)
        summary = f"{met} of {self.checked} targets met"
        if self.skipped:
            summary += f", {len(self.skipped)} not checked"
        print(f"\n{summary}; load average at the end {machine.load_average()}", flush=True)
        return 1 if self.missed else 0
