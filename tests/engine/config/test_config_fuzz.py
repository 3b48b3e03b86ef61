"""Configuration fuzzing: whatever a jobs.toml or app.toml holds, loading ends in a list of problems or OK.

Hypothesis mutates a valid install (fuzz_install/): bytes flipped, inserted or cut (NUL, invalid UTF-8,
stray brackets), and, on the parsed data, values replaced by wrong types, huge or non-finite numbers,
unicode and NUL text or nesting hundreds of levels deep, unknown keys added and keys removed at every
level. Each mutant is judged by the same load `nomaflow check` runs (in-process, for speed); a few are
also given to the real `nomaflow check` in a subprocess, which must exit 0 or 2 without a traceback.
Jobs defined in Python (`define_job`) get the same mutations plus values TOML cannot hold (None, bytes,
tuples, sets, arbitrary objects, keys that are not text): a ConfigError or a job, never anything else.
"""

from __future__ import annotations

import functools
import json
import math
import os
import pickle
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nomaflow.engine import Engine
from nomaflow.engine.config import ConfigError, load_install

SEED = Path(__file__).parent / "fuzz_install"
SEED_APP = (SEED / "app.toml").read_bytes()
SEED_JOBS = (SEED / "plugins" / "fuzzjobs" / "jobs.toml").read_bytes()
NOMAFLOW = str(Path(sys.executable).parent / "nomaflow")
# Per test (half that for define_job): 2,250 mutants in all, every table of the seeds reached many times.
EXAMPLES = int(os.environ.get("NOMAFLOW_FUZZ_EXAMPLES", "500"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # one load is a few ms; a slow machine must not turn into a flaky test
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


# --- writing TOML back (tomllib only reads) ---


def _key(key: str) -> str:
    return _string(key)


def _string(text: str) -> str:
    # JSON's escapes are TOML's, except that TOML also wants DEL escaped; non-ASCII stays as UTF-8.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _inline(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_inline(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)


def dump(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """`data` as TOML with [table] and [[array]] headers, as people write it (so lines can be found).
    Below three levels tables are written inline: a header per level of a value nested 400 deep would
    make tomllib's work quadratic, for nothing the headers above do not already exercise."""
    headed = len(prefix) < 3
    lines = [
        f"{_key(k)} = {_inline(v)}"
        for k, v in data.items()
        if not headed or (not isinstance(v, dict) and not _is_table_array(v))
    ]
    if not headed:
        return "\n".join(lines)
    for key, value in data.items():
        path = (*prefix, key)
        header = ".".join(_key(part) for part in path)
        if isinstance(value, dict):
            lines += ["", f"[{header}]", dump(value, path)]
        elif _is_table_array(value):
            for item in value:
                lines += ["", f"[[{header}]]", dump(item, path)]
    return "\n".join(lines)


# --- mutations ---


def _deep(levels: int, table: bool) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"d": value} if table else [value]
    return value


# Values known to be hard, drawn whole (one choice each: cheaper than building them draw by draw).
NASTY: list[Any] = [
    *(2**63 - 1, 2**63, -(2**63) - 1, 10**30, -(10**30), 0, -1),
    *(1e308, -1e308, 5e-324, math.inf, -math.inf, math.nan, -0.0),
    *("", "\x00", "a\x00b", "\u202e\u0301é漢字🙂", "\ufeff", "x" * 10_000),
    *("${env.NOMAFLOW_FUZZ_UNSET}", "${params.nope}", "${", "$${x}", "${steps..output}", "${previous}"),
    *("0 0 31 2 *", "sat-sun", "*/0 * * * *", "Europe/Pariss", "exponentiel", "99999999999h", "-1s"),
    *("sqlite+aiosqlite:///", "postgresql://u:${env.NOMAFLOW_FUZZ_UNSET}@h/d", "demo.nope:missing", "os:"),
    *(True, False, datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)),
    *(date(2028, 2, 29), time(23, 59, 59, 999_999)),
    *([], {}, [[]], [{}], {"": {}}, {"\x00": 1}, [1, "a", 2.5, True]),
    *(_deep(70, True), _deep(70, False), _deep(400, True), _deep(400, False)),
]
TRICKY_TEXT = st.sampled_from([value for value in NASTY if isinstance(value, str)])
LEAF = st.one_of(
    # A copy each time: a later mutation may change what it was put into.
    st.sampled_from(NASTY).map(lambda value: pickle.loads(pickle.dumps(value))),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
VALUE = st.one_of(
    LEAF,
    st.lists(LEAF, max_size=3),
    st.dictionaries(st.text(max_size=6), LEAF, max_size=2),
)
KEY = st.one_of(st.text(min_size=1, max_size=10), TRICKY_TEXT.filter(bool))


def _containers(value: Any) -> Iterator[Any]:
    """Every table and array inside `value`, itself included."""
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, dict):
            yield current
            pending.extend(current.values())
        elif isinstance(current, list):
            yield current
            pending.extend(current)


@functools.cache
def _parsed(seed: bytes) -> bytes:
    return pickle.dumps(tomllib.loads(seed.decode()))


@st.composite
def mutated_data(draw: st.DrawFn, seed: bytes) -> str:
    """The seed parsed, changed one to four times anywhere in its tree, and written back as TOML."""
    data = pickle.loads(_parsed(seed))  # a fresh copy, faster than parsing the TOML again
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        target = draw(st.sampled_from(list(_containers(data))))
        action = draw(st.sampled_from(["replace", "replace", "add", "remove"]))
        keys: list[Any] = list(target) if isinstance(target, dict) else list(range(len(target)))
        if action == "add" or not keys:
            new = draw(VALUE)
            if isinstance(target, dict):
                target[draw(KEY)] = new
            else:
                target.append(new)
        elif action == "remove":
            del target[draw(st.sampled_from(keys))]
        else:
            target[draw(st.sampled_from(keys))] = draw(VALUE)
    return dump(data)


@st.composite
def mutated_bytes(draw: st.DrawFn, seed: bytes) -> bytes:
    """The seed with a few bytes overwritten, inserted or cut."""
    data = bytearray(seed)
    interesting = st.sampled_from([*b"\x00\xff\xc3\"'[]{}=#\\\n.,$\xe2\x80"])
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        at = draw(st.integers(min_value=0, max_value=len(data)))
        byte = draw(st.one_of(interesting, st.integers(min_value=0, max_value=255)))
        action = draw(st.sampled_from(["set", "insert", "cut"]))
        if action == "insert" or at == len(data):
            data.insert(at, byte)
        elif action == "set":
            data[at] = byte
        else:
            del data[at : at + draw(st.integers(min_value=1, max_value=40))]
    return bytes(data)


# --- the property ---


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the seed install, rewritten by each example (a folder per example would put as many
    plugin folders on sys.path)."""
    root = tmp_path_factory.mktemp("fuzz") / "install"
    shutil.copytree(SEED, root)
    return root


_WRITTEN: dict[Path, bytes] = {}


def _write(file: Path, content: bytes) -> None:
    """Write `content` unless the file holds it already: most examples change one file of the two."""
    if _WRITTEN.get(file) != content:
        file.write_bytes(content)
        _WRITTEN[file] = content


def check_outcome(root: Path, *, app: bytes = SEED_APP, jobs: bytes = SEED_JOBS) -> int:
    """What `nomaflow check` decides for this install, judged in-process: 0 for OK, 2 for problems.
    Anything else (a traceback) propagates and fails the test."""
    _write(root / "app.toml", app)
    _write(root / "plugins" / "fuzzjobs" / "jobs.toml", jobs)
    path = list(sys.path)
    try:
        load_install(root / "app.toml", to_serve=True)
    except ConfigError as exc:
        assert exc.problems, "a ConfigError with no problem in it"
        for problem in exc.problems:
            # What the CLI prints, one line each: a file, a message, never an empty text.
            assert str(problem).startswith(problem.file) and problem.message.strip()
        return 2
    finally:
        # A mutated [jobs] plugins would leave one more folder on sys.path per example.
        sys.path[:] = path
    return 0


def test_the_seed_install_is_ok(install: Path) -> None:
    assert check_outcome(install) == 0
    # The writer above is faithful: the seeds written back load the same.
    for seed in (SEED_APP, SEED_JOBS):
        assert tomllib.loads(dump(tomllib.loads(seed.decode()))) == tomllib.loads(seed.decode())


@FUZZ
@given(jobs=mutated_data(SEED_JOBS))
def test_jobs_toml_with_changed_values_and_keys(install: Path, jobs: str) -> None:
    assert check_outcome(install, jobs=jobs.encode()) in (0, 2)


@FUZZ
@given(app=mutated_data(SEED_APP))
def test_app_toml_with_changed_values_and_keys(install: Path, app: str) -> None:
    assert check_outcome(install, app=app.encode()) in (0, 2)


@FUZZ
@given(jobs=mutated_bytes(SEED_JOBS))
def test_jobs_toml_with_flipped_bytes(install: Path, jobs: bytes) -> None:
    assert check_outcome(install, jobs=jobs) in (0, 2)


@FUZZ
@given(app=mutated_bytes(SEED_APP))
def test_app_toml_with_flipped_bytes(install: Path, app: bytes) -> None:
    assert check_outcome(install, app=app) in (0, 2)


def test_the_real_check_command_exits_0_or_2_without_a_traceback(tmp_path: Path) -> None:
    """A handful of mutants through `nomaflow check` itself, each in its own process (started together:
    a process spends most of its time importing): exit status, and what it prints."""
    typos = SEED_JOBS.replace(b"max_attempts = 3", b"max_atempts = 3").replace(b"mon-fri", b"mon-fry")
    short = SEED_APP.replace(b"a-fuzz-test-only-secret-long-enough-0123456789", b"short")
    deep = SEED_APP + b"\n[jobs.extra]\nx = " + b"[" * 400 + b"]" * 400 + b"\n"
    cases: list[tuple[bytes, bytes, int, list[str]]] = [
        (SEED_APP, SEED_JOBS, 0, ["OK"]),
        # check == serve: the secret serve would refuse is listed with the jobs' problems.
        (short, typos, 2, ["3 configuration problems", "retry.max_atempts", "schedule", "auth.secret"]),
        (SEED_APP, SEED_JOBS.replace(b"sales-report", b"sales-r\xffport"), 2, ["not UTF-8"]),
        (deep, SEED_JOBS.replace(b'"all"', b'"a\\u0000l"'), 2, ["nested too deeply"]),
    ]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    started = []
    for number, (app, jobs_toml, _, _) in enumerate(cases):
        root = tmp_path / f"install-{number}"
        shutil.copytree(SEED, root)
        (root / "app.toml").write_bytes(app)
        (root / "plugins" / "fuzzjobs" / "jobs.toml").write_bytes(jobs_toml)
        command = [NOMAFLOW, "--config", str(root / "app.toml"), "check"]
        started.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env))
    for process, (_, _, status, needles) in zip(started, cases, strict=True):
        output, _ = process.communicate(timeout=120)
        shown = output.decode(errors="replace")
        assert process.returncode == status, shown
        assert all(needle in shown for needle in needles) and "Traceback" not in shown, shown


# --- jobs defined in Python: the same tables, and values TOML cannot hold ---

PYTHON_LEAF = st.one_of(
    LEAF,
    st.none(),
    st.binary(max_size=4),
    st.tuples(st.integers()),
    st.frozensets(st.integers(), max_size=2),
    st.just(object()),
    st.integers().map(lambda number: {number: "a key that is not text"}),
)
PYTHON_VALUE = st.one_of(PYTHON_LEAF, st.lists(PYTHON_LEAF, max_size=3))


@st.composite
def mutated_job(draw: st.DrawFn) -> dict[str, Any]:
    """One of the seed's jobs as define_job's keyword arguments, changed one to three times."""
    jobs = pickle.loads(_parsed(SEED_JOBS))["jobs"]
    job: dict[str, Any] = draw(st.sampled_from(jobs))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        target = draw(st.sampled_from(list(_containers(job))))
        keys: list[Any] = list(target) if isinstance(target, dict) else list(range(len(target)))
        new = draw(PYTHON_VALUE)
        if isinstance(target, dict) and (not keys or draw(st.booleans())):
            target[draw(KEY)] = new
        elif keys:
            target[draw(st.sampled_from(keys))] = new
    return job


@pytest.fixture(scope="module")
def engine(install: Path) -> Engine:
    _write(install / "app.toml", SEED_APP)
    _write(install / "plugins" / "fuzzjobs" / "jobs.toml", SEED_JOBS)
    return Engine(load_install(install / "app.toml"), scheduler=False)


@settings(FUZZ, max_examples=EXAMPLES // 2)
@given(job=mutated_job())
def test_define_job_with_changed_values_and_keys(engine: Engine, job: dict[str, Any]) -> None:
    job["name"] = f"defined-{job.get('name')}" if isinstance(job.get("name"), str) else job.get("name")
    try:
        engine.define_job(**{str(key): value for key, value in job.items()})
    except ConfigError as exc:
        assert exc.problems and all(str(problem) for problem in exc.problems)
