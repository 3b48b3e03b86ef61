"""What carries runs beyond the actors: the step executor, the log writer, hooks after a run, and
crash recovery (heartbeats, interrupted runs)."""
