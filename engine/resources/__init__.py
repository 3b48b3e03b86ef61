"""What steps connect to, by name: connectors (database pools), named queries, and the optional
drivers they need."""
