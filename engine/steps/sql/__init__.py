"""The SQL steps: sql_query and sql_copy, the dialects they talk, and the type conversions of a copy."""
