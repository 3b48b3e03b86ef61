"""Events after they are committed: the bus that fans them out, the in-memory tracker of
in-flight runs, and the state diagrams replayed from a run's recorded transitions."""
