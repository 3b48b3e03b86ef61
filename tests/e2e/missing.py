"""Run the `nomaflow` CLI as if some packages were not installed, without uninstalling them:

    python tests/e2e/missing.py aiohttp,asyncpg -- job run quick --wait
    python tests/e2e/missing.py "" -- check        (nothing missing)

A name set to None in sys.modules makes `import name` (and `name.sub`) raise ImportError and
`importlib.util.find_spec(name)` answer None, which is what a Python without the package does.
"""

from __future__ import annotations

import sys


def main() -> None:
    names, separator, *arguments = sys.argv[1:]
    assert separator == "--", "usage: missing.py NAME[,NAME...] -- NOMAFLOW ARGUMENTS"
    for name in filter(None, names.split(",")):
        sys.modules[name] = None  # type: ignore[assignment]
    sys.argv = ["nomaflow", *arguments]
    from nomaflow.engine.cli import main as nomaflow

    nomaflow()


if __name__ == "__main__":
    main()
