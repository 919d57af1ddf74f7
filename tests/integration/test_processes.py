"""Everything the emulated stack starts is stopped as a group, grandchildren included."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from devstack import pubsub_emulator
from devstack.processes import Child, free_port, running_children

pytestmark = pytest.mark.integration


def group_members(pgid: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return found


def test_stop_ends_the_whole_group(tmp_path: Path) -> None:
    # A parent that ignores SIGTERM's effect on its child: the child would outlive a plain kill.
    child = Child("sleepers", ["sh", "-c", "sleep 300 & sleep 300 & wait"], log_path=tmp_path / "log").start()
    time.sleep(0.2)
    pgid = child.pid
    assert pgid is not None
    assert len(group_members(pgid)) == 3
    child.stop(grace=2)
    assert group_members(pgid) == []
    assert child not in running_children()


def test_the_pubsub_emulator_leaves_no_java_behind(tmp_path: Path) -> None:
    port = free_port()
    emulator = pubsub_emulator.emulator(port, tmp_path).start()
    emulator.wait_ready(60)
    pgid = emulator.pid
    assert pgid is not None
    assert any("java" in p.name() for p in group_members(pgid))
    emulator.stop()
    assert group_members(pgid) == []
