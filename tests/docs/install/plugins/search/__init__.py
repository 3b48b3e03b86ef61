"""The search app docs/steps/python.md names."""
