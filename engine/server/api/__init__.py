"""The REST API under /admin, and /health and /metrics: routes, schemas, and how bad input and a
store outage are answered."""
