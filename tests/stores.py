"""A database and a read model on real servers, without the rest of the emulated stack: a private
PostgreSQL and redis-server in a temporary folder, for tests of what the stores themselves do
(locking, upserts, Lua) that SQLite and fakeredis cannot vouch for."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from devstack.processes import free_port
from devstack.servers import PrivatePostgres, PrivateRedis
from svmflow.db.database import Database, make_engine
from svmflow.read_model import ReadModel


@dataclass
class Stores:
    db: Database
    read_model: ReadModel


@contextmanager
def real_stores() -> Iterator[Stores]:
    with tempfile.TemporaryDirectory(prefix="svmflow-stores-") as tmp:
        root = Path(tmp)
        password = secrets.token_hex(8)
        postgres = PrivatePostgres(free_port(), root / "pg", root, password)
        cache = PrivateRedis(free_port(), root / "redis", root)
        postgres.init()
        postgres.start()
        cache.start()
        engine = None
        try:
            postgres.create_database("svmflow")
            engine = make_engine(postgres.url("svmflow"), password=password, pool_size=10)
            db = Database(engine)
            db.create_schema()
            client = redis.Redis.from_url(cache.url)
            yield Stores(db, ReadModel(client, prefix="svmflow:test:"))
            client.close()
        finally:
            if engine is not None:
                engine.dispose()
            cache.stop()
            postgres.stop()
