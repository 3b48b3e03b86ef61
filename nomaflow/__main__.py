"""`python -m nomaflow`: the same command line as `nomaflow` and `liberty-admin`."""

from nomaflow.engine.cli import main

main()
