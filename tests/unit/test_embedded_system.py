from __future__ import annotations

import time

from svmflow.config import Settings
from svmflow.db import leases
from svmflow.emulated.processes import free_port
from svmflow.runtime.embedded import EmbeddedSystem


def test_first_start_waits_for_a_lease_left_by_a_killed_run(settings: Settings) -> None:
    system = EmbeddedSystem(settings.with_(embedded_redis_port=free_port()), workers=2)
    try:
        # A run killed mid-training leaves its lease behind until it expires.
        assert leases.acquire(system.container.db, "training", "killed-run", ttl_seconds=3)
        started = time.monotonic()
        system.start()
        assert time.monotonic() - started >= 2
        current = system.container.read_model.current_model()
        assert current is not None
        assert current["decision"] == "promoted"
    finally:
        system.stop()
