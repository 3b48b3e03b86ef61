"""What the process tells its operators beyond the run history, and how it joins the host's logging:
its own log records (secrets filtered out, run fields, text or JSON), the records steps make copied into
their runs' logs, and optional OpenTelemetry spans (docs/logging.md)."""
