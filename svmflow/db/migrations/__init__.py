"""Alembic migrations of the svmflow schema; run with `svmflow migrate` (svmflow.db.migrate)."""
