"""The seed install of the configuration fuzz test (tests/engine/config/test_config_fuzz.py)."""
