"""Postgres (or SQLite) persistence: the source of truth."""
