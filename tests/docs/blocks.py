"""The fenced code blocks of README.md and docs/**/*.md, each with its page, line and info string, and
whether the page marks it as one that cannot run here."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
# `<!-- not-tested: why -->` on the line just above a fence: the block is shown, not run, for that reason.
_NOT_TESTED = re.compile(r"^\s*<!--\s*not-tested:\s*(?P<why>.+?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    info: str  # the info string's first word ("python", "toml", "sh"...), "" when there is none
    text: str
    not_tested: str | None  # the reason given by a not-tested comment

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """Every fenced block of one Markdown page (indented ones in lists too)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    at = 0
    while at < len(lines):
        opening = _FENCE.match(lines[at])
        if opening is None:
            at += 1
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        body: list[str] = []
        end = at + 1
        while end < len(lines) and not re.match(
            rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[end]
        ):
            body.append(lines[end][indent:] if lines[end][:indent].strip() == "" else lines[end])
            end += 1
        marker = _NOT_TESTED.match(lines[at - 1]) if at > 0 else None
        info = opening["info"].strip().split(" ")[0] if opening["info"].strip() else ""
        found.append(Block(page, at + 1, info, "\n".join(body) + "\n", marker["why"] if marker else None))
        at = end + 1
    return found


def every_block() -> list[Block]:
    return [block for page in PAGES for block in blocks(page)]
