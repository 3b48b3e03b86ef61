"""How many of the docs' code blocks ran, and how many are shown only, said at the end of the session."""

from __future__ import annotations

from collections import Counter

import pytest

# Filled by tests/docs/test_docs_blocks.py: one count per way a block was checked.
TALLY: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY:
        ran = sum(count for how, count in TALLY.items() if not how.startswith("shown"))
        parts = ", ".join(f"{how} {count}" for how, count in sorted(TALLY.items()))
        terminalreporter.write_line(f"docs code blocks: {ran} ran of {sum(TALLY.values())} ({parts})")
