"""Callables for the engine tests' jobs (jobs themselves are defined in Python by each test)."""
