"""Step callables for benchmarks/dispatch.py (the install's plugin package `benchjobs`)."""
