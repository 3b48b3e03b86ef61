"""The parts of benchmarks/dispatch.py: the engine's side, the peer's (procrastinate), the store calls a
run makes (captured and replayed as the write baseline), profiling, and the report's tables."""
