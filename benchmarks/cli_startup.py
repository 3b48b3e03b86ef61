"""Benchmark of the CLI's start-up (issue 15): how long each everyday command takes from exec to exit,
against `python -c pass` timed in the same run, as a ratio.

    .venv/bin/python benchmarks/cli_startup.py [--repeat 7] [--jobs 200] [--source DIR]

It makes an install of `--jobs` one-step python jobs (each with a schedule and a timezone) in a
temporary folder, runs one of them a few times so the store has history, then times, `--repeat` times
each, taking turns: `--help`, `--version`, `jobs list`, `runs list`, `runs show RUN`, and `job run` of a
one-step job to its exit. Every command is the same Python running `nomaflow.engine.cli.main()` from
`--source` (default: this checkout), so the figures before a change come from running this script with
`--source` pointing at an older checkout. It checks its targets (benchmarks/targets.toml) against the
medians and exits with 1 if one is missed. `python -X importtime` says where a command's time goes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `benchmarks.*`, run as a script

from benchmarks.harness.report import Report, phase, say
from benchmarks.harness.stats import median, ratio

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'nomaflow'; " + (
    "from nomaflow.engine.cli import main; main()"
)
STEPS = """def hello() -> str:
    return "hello"
"""


def make_install(folder: Path, jobs: int) -> Path:
    plugins = folder / "plugins" / "benchjobs"
    plugins.mkdir(parents=True)
    (plugins / "__init__.py").write_text("")
    (plugins / "steps.py").write_text(STEPS)
    zones = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo")
    tables = [
        f'[[jobs]]\nname = "bench-{index:04d}"\nschedule = "{index % 60} {index % 24} * * *"\n'
        f'timezone = "{zones[index % len(zones)]}"\n\n[[jobs.steps]]\nname = "one"\ntype = "python"\n'
        'callable = "benchjobs.steps:hello"\n'
        for index in range(jobs)
    ]
    (plugins / "jobs.toml").write_text("\n".join(tables))
    app = folder / "app.toml"
    app.write_text(
        '[jobs]\ntimezone = "UTC"\n\n[connectors.default]\nurl = "sqlite+aiosqlite:///nomaflow.db"\n'
    )
    return app


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    begun = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - begun
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[3:])} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return took, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="times each command is run (default 7)")
    parser.add_argument("--jobs", type=int, default=200, help="jobs in the install (default 200)")
    parser.add_argument("--source", type=Path, default=ROOT, help="the checkout whose CLI is timed")
    options = parser.parse_args()
    source = str(options.source.resolve())
    report = Report(
        "cli_startup",
        "CLI start-up: each command from exec to exit, against `python -c pass` in the same run",
        f"source {source}",
        f"{options.jobs} jobs, median of {options.repeat}",
    )
    with tempfile.TemporaryDirectory(prefix="nomaflow-cli-bench-") as folder:
        app = make_install(Path(folder), options.jobs)
        env = {**os.environ, "NOMAFLOW_CONFIG": str(app), "COLUMNS": "200"}
        env.pop("NOMAFLOW_SERVER", None)
        nomaflow = [sys.executable, "-c", LAUNCHER, source]
        with phase("making the store and a little history"):
            subprocess.run([*nomaflow, "db", "upgrade"], env=env, check=True, capture_output=True)
            for _ in range(3):
                timed([*nomaflow, "job", "run", "bench-0001"], env)
            listing = timed([*nomaflow, "runs", "list", "--limit", "1"], env)[1]
            run_id = listing.splitlines()[1].split()[0]
        commands = {
            "help": ["--help"],
            "version": ["--version"],
            "jobs_list": ["jobs", "list"],
            "runs_list": ["runs", "list"],
            "runs_show": ["runs", "show", run_id],
            "job_run": ["job", "run", "bench-0002"],
        }
        samples: dict[str, list[float]] = {name: [] for name in ["baseline", *commands]}
        with phase(f"timing {len(commands)} commands and the baseline, {options.repeat} rounds"):
            for _ in range(options.repeat):
                samples["baseline"].append(timed([sys.executable, "-c", "pass"], env)[0])
                for name, args in commands.items():
                    samples[name].append(timed([*nomaflow, *args], env)[0])
    baseline = median(samples["baseline"])
    report.section("medians")
    report.figure("python -c pass (the baseline)", f"{baseline * 1000:.0f} ms")
    for name, args in commands.items():
        took = median(samples[name])
        shown = " ".join(args[:2]) + (" RUN" if name == "runs_show" else "")
        report.figure(
            f"nomaflow {shown}",
            f"{took * 1000:.0f} ms",
            times=ratio(took, baseline),
            against="python -c pass",
        )
    report.section("targets")
    # One target per command, named as the command is here.
    for name in commands:
        took = median(samples[name])
        report.check(name, took, detail=f"{ratio(took, baseline):.1f}x python -c pass")
    say("done")
    return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())
