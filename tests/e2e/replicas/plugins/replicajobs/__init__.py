"""Jobs for the replica and crash tests."""
