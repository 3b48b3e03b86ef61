"""The example install's plugin: small callables used by examples/plugins/demo/jobs.toml."""
