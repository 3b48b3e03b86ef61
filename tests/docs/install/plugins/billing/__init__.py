"""The billing app the docs' examples name (README.md, docs/configuration.md, docs/steps/)."""
