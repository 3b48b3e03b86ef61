"""What the process tells its operators outside the run history: its own log records (with
secrets filtered out)."""
