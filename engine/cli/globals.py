"""The options that belong to the whole program (`--config`, `--server`, `--token`) are accepted
anywhere on the command line, as kubectl and gh take theirs: `nomaflow runs list --config x/app.toml`
means `nomaflow --config x/app.toml runs list`. Click only reads a group's options before the
subcommand, so the root group moves them there before it parses; `--` ends what is looked at."""

from __future__ import annotations

from typing import Any

from typer.core import TyperGroup

from nomaflow.engine.cli.plain_values import skip_identity_checks

# Option -> whether it takes a value.
GLOBAL_OPTIONS = {"--config": True, "-c": True, "--server": True, "--token": True}


def hoisted(args: list[str]) -> list[str]:
    """`args` with every global option (and its value) moved to the front, in the order written."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and name.startswith("--") and "=" in arg:
            front.append(arg)
        elif arg in GLOBAL_OPTIONS and index + 1 < len(args):
            front.extend(args[index : index + 2])
            index += 1
        else:
            rest.append(arg)
        index += 1
    return front + rest


class GlobalOptionsGroup(TyperGroup):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = hoisted(list(args))
            skip_identity_checks()
        result: list[str] = super().parse_args(ctx, args)
        return result
