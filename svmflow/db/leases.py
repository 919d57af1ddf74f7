"""Named leases with an expiry: one holder at a time across threads, processes and instances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from svmflow.db.database import Database
from svmflow.db.tables import Lease


def acquire(db: Database, name: str, holder: str, ttl_seconds: float) -> bool:
    """Take the lease if it is free or expired; a crashed holder's lease frees itself after the TTL."""
    now = datetime.now(UTC)
    statement = db.insert(Lease).values(
        name=name, holder=holder, expires_at=now + timedelta(seconds=ttl_seconds)
    )
    statement = statement.on_conflict_do_update(
        index_elements=["name"],
        set_={"holder": statement.excluded.holder, "expires_at": statement.excluded.expires_at},
        where=Lease.expires_at < now,
    )
    with db.transaction() as session:
        return session.connection().execute(statement).rowcount == 1


def release(db: Database, name: str, holder: str) -> None:
    with db.transaction() as session:
        session.connection().execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))
