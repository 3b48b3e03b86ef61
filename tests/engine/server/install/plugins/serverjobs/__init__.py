"""Jobs for the server tests: one waits on a file (a cross-process gate), one logs and may fail."""
