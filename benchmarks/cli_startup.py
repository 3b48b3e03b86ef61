"""Benchmark of the CLI's start-up (issue 15): how long each everyday command takes from exec to exit,
against `python -c pass` timed in the same run, as a ratio.

    .venv/bin/python benchmarks/cli_startup.py [--repeat 7] [--jobs 200] [--source DIR]

It makes an install of `--jobs` one-step python jobs (each with a schedule and a timezone) in a
temporary folder, runs one of them a few times so the store has history, then times, `--repeat` times
each, taking turns: `--help`, `--version`, `jobs list`, `runs list`, `runs show RUN`, and `job run` of a
one-step job to its exit. Every command is the same Python running `nomaflow.engine.cli.main()` from
`--source` (default: this checkout), so the figures before a change come from running this script with
`--source` pointing at an older checkout. Beside each wall time it prints the CPU time the command
used, against the baseline's: on a busy machine that is the steadier figure. It checks its targets
(benchmarks/targets.toml) against the wall-time medians and exits with 1 if one is missed.
`python -X importtime` says where a command's time goes.
"""

from __future__ import annotations

import argparse
import os
import resource
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
# The source folders the `nomaflow` package is made of (nomaflow/ links to the others).
PACKAGES = ("nomaflow", "engine", "actors", "states")
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


# CPU seconds (user + system) each command used, beside its wall time: on a machine shared with other
# work the wall time is mostly waiting for a core, and the CPU time says what the command itself cost.
cpu: dict[str, list[float]] = {}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(command: list[str], env: dict[str, str], name: str = "") -> tuple[float, str]:
    spent = _children_cpu()
    begun = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - begun
    cpu.setdefault(name, []).append(_children_cpu() - spent)
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
            # Bytecode for every module, as pip writes it when it installs the wheel: otherwise a
            # checkout never run (or an environment with PYTHONDONTWRITEBYTECODE) compiles its source
            # in every command, a cost no installed copy has.
            subprocess.run(
                [sys.executable, "-m", "compileall", "-q", *(f"{source}/{package}" for package in PACKAGES)],
                check=True,
                capture_output=True,
            )
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
                samples["baseline"].append(timed([sys.executable, "-c", "pass"], env, "baseline")[0])
                for name, args in commands.items():
                    samples[name].append(timed([*nomaflow, *args], env, name)[0])
    baseline = median(samples["baseline"])
    cpu_baseline = median(cpu["baseline"])
    report.section("medians: wall time (and its ratio), then CPU time (user + system)")
    report.figure(
        "python -c pass (the baseline)", f"{baseline * 1000:.0f} ms   cpu {cpu_baseline * 1000:.0f} ms"
    )
    for name, args in commands.items():
        took, used = median(samples[name]), median(cpu[name])
        shown = " ".join(args[:2]) + (" RUN" if name == "runs_show" else "")
        report.figure(
            f"nomaflow {shown}",
            f"{took * 1000:.0f} ms ({ratio(took, baseline):.1f}x)   cpu {used * 1000:.0f} ms",
            times=ratio(used, cpu_baseline),
            against="the baseline's cpu",
        )
    report.section("targets")

    def against(name: str) -> str:
        return f"{ratio(median(samples[name]), baseline):.1f}x python -c pass"

    report.check("help", median(samples["help"]), detail=against("help"))
    report.check("version", median(samples["version"]), detail=against("version"))
    report.check("jobs_list", median(samples["jobs_list"]), detail=against("jobs_list"))
    report.check("runs_list", median(samples["runs_list"]), detail=against("runs_list"))
    report.check("runs_show", median(samples["runs_show"]), detail=against("runs_show"))
    report.check("job_run", median(samples["job_run"]), detail=against("job_run"))
    say("done")
    return report.finish()


if __name__ == "__main__":
    raise SystemExit(main())
