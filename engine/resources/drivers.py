"""Optional drivers: each database or directory driver comes with an extra of the distribution, and the
code that needs one imports it where it is used, so an install without it loads and runs everything else.

Whatever needs a driver asks `missing_driver` while the install loads, which turns an absent one into a
configuration problem that names the extra to install (so `nomaflow check` and start-up say the same).
"""

from __future__ import annotations

import importlib.util

# import name -> the extra that installs it: pip install 'nomaflow[<extra>]'
EXTRAS = {
    "asyncpg": "postgres",
    "asyncmy": "mysql",
    "ldap3": "ldap",
    "redis": "redis",
}


def installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install, or a module stubbed out in sys.modules
        return False


def missing_driver(module: str, needed_by: str) -> str | None:
    """None when `module` is installed; else the problem, e.g. "connector 'warehouse'
    (postgresql+asyncpg) needs the asyncpg driver: pip install 'nomaflow[postgres]'"."""
    if installed(module):
        return None
    extra = EXTRAS.get(module)
    install = f"pip install 'nomaflow[{extra}]'" if extra else f"pip install {module}"
    return f"{needed_by} needs the {module} driver: {install}"
