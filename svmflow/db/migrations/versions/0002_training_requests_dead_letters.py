"""Training requests (every request's job record, its claim and lease, which replace the leases
table) and dead letters (every message given up on, until an operator replays it).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 15:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_requests",
        sa.Column("request_id", sa.String(length=160), nullable=False),
        sa.Column("job_id", sa.String(length=160), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("covered_by", sa.String(length=160), nullable=True),
        sa.Column("labels_wanted", sa.Integer(), nullable=False),
        sa.Column("labels_seen", sa.Integer(), nullable=True),
        sa.Column("holder", sa.String(length=160), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id"),
    )
    op.create_index("ix_training_requests_status", "training_requests", ["status"], unique=False)
    op.drop_table("leases")
    op.create_table(
        "dead_letters",
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column("batch_id", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column(
            "attributes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead_lettered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("message_id"),
    )
    op.create_index("ix_dead_letters_batch_id", "dead_letters", ["batch_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_dead_letters_batch_id", table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_index("ix_training_requests_status", table_name="training_requests")
    op.drop_table("training_requests")
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=160), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
