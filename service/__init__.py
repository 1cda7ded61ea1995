"""The service around the engine: its settings and its command-line commands."""
