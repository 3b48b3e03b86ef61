"""Callables for the end-to-end tests, which run real `nomaflow` processes."""
