"""The ldap_sync step: a directory subtree mapped into a table of a connector."""
