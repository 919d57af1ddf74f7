"""Training requests replace the lease; live performance aggregates; the learning loop's columns.

- ``leases`` goes: a running training's claim now lives on its ``training_requests`` row.
- ``performance_counts`` and ``performance_revisions`` are built from the verdicts already stored, so
  versions rated before the upgrade keep their live figures (``svmflow rebuild-cache`` puts them in
  the read model); ``feedback_verdicts.model_version`` is indexed for their recomputation.
- ``champion_tests`` starts empty: no paired test has run before this release.
- ``retrain_state`` gains the label counter and the drift signal. ``labels_total`` starts at the
  number of feedback rows, the count ``labels_at_last_request`` was taken from, so the labels pending
  since the last request stay pending and the next request id (``labels-<total>``) is a new one.
- ``training_rows``: feedback rows were keyed by ``<batch_id>/<subject>``, now by the digest of their
  features (one vector, one label). Rows of the same vector are merged into the latest rating, which
  keeps its batch and subject; ``label_changes`` counts how often the label changed along the way.
  Earlier feedback did not say how its rows were chosen, so it counts as ``corrections`` (training
  data, not evidence for the promotion gate).

New NOT NULL columns are added with a server default so existing rows get a value, which is then
dropped: the code supplies every value, and a migrated database equals one created from the tables.

Downgrade restores the 0001 schema; merged feedback rows stay merged (one row per vector, under the
batch and subject of its latest rating), and the performance, request and test records are dropped.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 15:20:00
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FEEDBACK = "feedback"
MERGED_FEEDBACK_KIND = "corrections"
_CHUNK = 500
T = TypeVar("T")


def upgrade() -> None:
    op.drop_table("leases")
    _create_training_requests()
    _create_performance()
    op.create_table(
        "champion_tests",
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("tests", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    _upgrade_retrain_state()
    _upgrade_training_rows()


def downgrade() -> None:
    bind = op.get_bind()
    training_rows = sa.table(
        "training_rows",
        sa.column("id", sa.Integer),
        sa.column("source", sa.String),
        sa.column("source_key", sa.String),
        sa.column("batch_id", sa.String),
        sa.column("subject", sa.String),
    )
    # Back to the 0001 key of a feedback row: where it was (last) rated.
    rows = bind.execute(
        sa.select(training_rows.c.id, training_rows.c.batch_id, training_rows.c.subject).where(
            training_rows.c.source == FEEDBACK,
            training_rows.c.batch_id.is_not(None),
            training_rows.c.subject.is_not(None),
        )
    ).all()
    for chunk in _chunks(rows):
        bind.execute(
            training_rows.update()
            .where(training_rows.c.id == sa.bindparam("row_id"))
            .values(source_key=sa.bindparam("key")),
            [{"row_id": r.id, "key": f"{r.batch_id}/{r.subject}"} for r in chunk],
        )
    op.drop_index("ix_training_rows_batch_id", table_name="training_rows")
    with op.batch_alter_table("training_rows") as batch:
        for name in (
            "status_reason",
            "status_by",
            "status",
            "label_changes",
            "labelled_by",
            "subject",
            "batch_id",
            "kind",
        ):
            batch.drop_column(name)
    with op.batch_alter_table("retrain_state") as batch:
        for name in ("reference_error", "sample_wrong", "sample_rated", "labels_needed", "labels_total"):
            batch.drop_column(name)
    op.drop_table("champion_tests")
    op.drop_index("ix_feedback_verdicts_model_version", table_name="feedback_verdicts")
    op.drop_table("performance_revisions")
    op.drop_table("performance_counts")
    op.drop_index("ix_training_requests_status", table_name="training_requests")
    op.drop_table("training_requests")
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=160), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def _create_training_requests() -> None:
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


def _create_performance() -> None:
    op.create_table(
        "performance_counts",
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("true_label", sa.SmallInteger(), nullable=False),
        sa.Column("predicted_label", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("model_version", "day", "true_label", "predicted_label"),
    )
    op.create_table(
        "performance_revisions",
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model_version"),
    )
    op.create_index(
        "ix_feedback_verdicts_model_version", "feedback_verdicts", ["model_version"], unique=False
    )
    # The same GROUP BY the live performance function runs per version, for every rated version.
    if op.get_bind().dialect.name == "postgresql":
        day = "to_char(timezone('UTC', b.predicted_at), 'YYYY-MM-DD')"
        now = "now()"
    else:
        day = "strftime('%Y-%m-%d', b.predicted_at)"  # SQLite keeps UTC, zone-less
        now = "strftime('%Y-%m-%d %H:%M:%f000', 'now')"
    # Both expressions are constants of this module, never input.
    op.execute(
        "INSERT INTO performance_counts (model_version, day, true_label, predicted_label, count) "  # noqa: S608
        f"SELECT v.model_version, {day}, v.corrected_label, v.predicted_label, count(*) "
        "FROM feedback_verdicts v JOIN prediction_batches b ON b.batch_id = v.batch_id "
        f"GROUP BY v.model_version, {day}, v.corrected_label, v.predicted_label"
    )
    op.execute(
        "INSERT INTO performance_revisions (model_version, revision, updated_at) "  # noqa: S608
        f"SELECT DISTINCT model_version, 1, {now} FROM performance_counts"
    )


def _upgrade_retrain_state() -> None:
    with op.batch_alter_table("retrain_state") as batch:
        batch.add_column(sa.Column("labels_total", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("labels_needed", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("sample_rated", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("sample_wrong", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("reference_error", sa.Float(), nullable=True))
    # Counted before the feedback rows are merged: that is the count labels_at_last_request holds.
    op.execute(
        sa.text(
            "UPDATE retrain_state SET labels_total = "
            "(SELECT count(*) FROM training_rows WHERE source = :source)"
        ).bindparams(source=FEEDBACK)
    )
    with op.batch_alter_table("retrain_state") as batch:
        for name in ("labels_total", "sample_rated", "sample_wrong"):
            batch.alter_column(name, existing_type=sa.Integer(), existing_nullable=False, server_default=None)


def _upgrade_training_rows() -> None:
    with op.batch_alter_table("training_rows") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="seed"))
        batch.add_column(sa.Column("batch_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("subject", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("labelled_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("label_changes", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="active"))
        batch.add_column(sa.Column("status_by", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("status_reason", sa.String(length=500), nullable=True))
    _rekey_feedback_rows()
    with op.batch_alter_table("training_rows") as batch:
        batch.alter_column(
            "kind", existing_type=sa.String(length=16), existing_nullable=False, server_default=None
        )
        batch.alter_column(
            "label_changes", existing_type=sa.Integer(), existing_nullable=False, server_default=None
        )
        batch.alter_column(
            "status", existing_type=sa.String(length=16), existing_nullable=False, server_default=None
        )
    op.create_index("ix_training_rows_batch_id", "training_rows", ["batch_id"], unique=False)


def _rekey_feedback_rows() -> None:
    """One row per feature vector: the latest rating stands, earlier ones count as label changes."""
    bind = op.get_bind()
    rows = sa.table(
        "training_rows",
        sa.column("id", sa.Integer),
        sa.column("source", sa.String),
        sa.column("source_key", sa.String),
        sa.column("row_hash", sa.String),
        sa.column("label", sa.SmallInteger),
        sa.column("labelled_at", sa.DateTime(timezone=True)),
        sa.column("kind", sa.String),
        sa.column("batch_id", sa.String),
        sa.column("subject", sa.String),
        sa.column("label_changes", sa.Integer),
    )
    history: dict[str, list[sa.Row[Any, Any, Any, Any]]] = {}
    for row in bind.execute(
        sa.select(rows.c.id, rows.c.source_key, rows.c.row_hash, rows.c.label)
        .where(rows.c.source == FEEDBACK)
        .order_by(rows.c.labelled_at, rows.c.id)
    ):
        history.setdefault(row.row_hash, []).append(row)
    superseded: list[int] = []
    updates: list[dict[str, object]] = []
    for digest, ratings in history.items():
        latest = ratings[-1]
        superseded.extend(r.id for r in ratings[:-1])
        # Batch ids never hold a '/', so the first one separates the batch from the subject.
        batch_id, slash, subject = latest.source_key.partition("/")
        changes = sum(1 for a, b in itertools.pairwise(ratings) if a.label != b.label)
        updates.append(
            {
                "row_id": latest.id,
                "key": digest,
                "batch": batch_id if slash else None,
                "subj": subject if slash else None,
                "changes": changes,
            }
        )
    for chunk in _chunks(superseded):
        bind.execute(rows.delete().where(rows.c.id.in_(chunk)))
    for changed in _chunks(updates):
        bind.execute(
            rows.update()
            .where(rows.c.id == sa.bindparam("row_id"))
            .values(
                source_key=sa.bindparam("key"),
                kind=MERGED_FEEDBACK_KIND,
                batch_id=sa.bindparam("batch"),
                subject=sa.bindparam("subj"),
                label_changes=sa.bindparam("changes"),
            ),
            changed,
        )


def _chunks(items: Iterable[T]) -> Iterable[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
