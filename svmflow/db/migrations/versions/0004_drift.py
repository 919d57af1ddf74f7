"""Input drift: each model version's open window, its closed windows' figures, the batches counted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _json() -> sa.JSON:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "drift_states",
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("window_size", sa.Integer(), nullable=False),
        sa.Column("windows_closed", sa.Integer(), nullable=False),
        sa.Column("open_rows", _json(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model_version"),
    )
    op.create_table(
        "drift_windows",
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("alpha", sa.Float(), nullable=False),
        sa.Column("drifted", sa.Boolean(), nullable=False),
        sa.Column("drifted_features", _json(), nullable=False),
        sa.Column("features", _json(), nullable=False),
        sa.Column("reference_rows", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model_version", "window"),
    )
    op.create_table(
        "drift_batches",
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.String(length=128), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model_version", "batch_id"),
    )


def downgrade() -> None:
    op.drop_table("drift_batches")
    op.drop_table("drift_windows")
    op.drop_table("drift_states")
