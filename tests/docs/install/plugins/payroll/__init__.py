"""The payroll app docs/configuration.md names."""
