"""Params the job store cannot hold (NUL, lone surrogates, nan), anywhere in a param, its nested lists
and tables or their keys, are refused by `engine.trigger` with the ParamError every other param check
raises, before a run exists; the engine then runs the next trigger as usual (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from nomaflow.engine import Engine
from nomaflow.engine.config import Install
from nomaflow.engine.config.params import ParamError, parse_param_text

pytestmark = pytest.mark.anyio

DECLARED = {"text": "", "tags": [], "extra": {}, "ratio": 1.0}

REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"text": "a\x00b"}, r"param 'text' of job 'e' contains a NUL character \(\\x00\): it cannot be stored"),
    ({"text": "\udcff"}, r"param 'text' .* a lone surrogate \(\\udcff\), which is not valid Unicode"),
    ({"tags": ["a", ["b", "c\x00"]]}, r"param 'tags' .* NUL character \(\\x00\) at tags\[1\]\[1\]"),
    (
        {"extra": {"a": {"b\ud800": 1}}},
        r"param 'extra' .* lone surrogate .* at the key 'b\\ud800' of extra\.a",
    ),
    ({"ratio": float("inf")}, r"param 'ratio' .* a number that is not finite \(inf\)"),
    ({"x\x00": 1}, r"param name 'x\\x00' of job 'e' contains a NUL character"),
]


@pytest.mark.parametrize(("params", "message"), REFUSED)
async def test_trigger_refuses_what_cannot_be_stored(
    install: Install, params: dict[str, Any], message: str
) -> None:
    async with Engine(install, scheduler=False) as engine:
        engine.define_job(
            name="e",
            params=DECLARED,
            steps=[
                {
                    "name": "say",
                    "type": "python",
                    "callable": "enginejobs.steps:echo",
                    "kwargs": {"text": "${params.text}"},
                }
            ],
        )
        with pytest.raises(ParamError, match=message):
            await engine.trigger("e", params=params)
        assert (await engine.store.list_runs(limit=10)).runs == []
        outcome = await (await engine.trigger("e", params={"text": "fine"})).wait()
        assert outcome.status == "succeeded" and outcome.step("say").output == {"text": "fine"}


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("text", "a\udcffb", "lone surrogate (\\udcff)"),  # how a shell's invalid UTF-8 reaches argv
        ("tags", '["ok", "\\u0000"]', "NUL character (\\x00) at tags[1]"),  # a JSON escape
        ("extra", '{"\\u0000": 1}', "at the key '\\x00' of extra"),
        ("ratio", "nan", "not finite (nan)"),
    ],
)
def test_param_text_from_the_cli_is_checked_too(key: str, text: str, message: str) -> None:
    with pytest.raises(ParamError) as raised:
        parse_param_text("e", DECLARED, key, text)
    assert message in str(raised.value)
