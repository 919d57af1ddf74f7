"""Data sets a deployment serves: the spec of each model, its seed data, records by feature name."""
