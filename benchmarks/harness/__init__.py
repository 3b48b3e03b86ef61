"""What every benchmark shares: statistics, the targets it is held to and the report that prints its
figures against them, throwaway databases, notes on the machine, and a few ways of running our code
outside an engine (a step on its own, a real `nomaflow serve`, Debian's Chromium)."""
