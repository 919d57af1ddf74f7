"""Everything the emulated stack starts is stopped as a group, grandchildren included."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import psutil
import pytest

from devstack import pubsub_emulator
from devstack.processes import Child, PortTakenError, free_port, running_children

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


def test_free_port_never_hands_out_the_same_port_twice() -> None:
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def test_a_port_another_server_listens_on_is_not_the_child_being_ready(tmp_path: Path) -> None:
    """Two servers given one port looked like one: the second never bound it, the first answered for
    both, and whatever was meant for the second (a push subscription) reached the first."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        child = Child("late", ["sleep", "30"], log_path=tmp_path / "late.log", port=port).start()
        try:
            with pytest.raises(PortTakenError, match=f"late cannot listen on port {port}: pid {os.getpid()}"):
                child.wait_ready(10)
        finally:
            child.stop(grace=2)


def test_a_child_listening_on_its_port_is_ready(tmp_path: Path) -> None:
    port = free_port()
    args = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    child = Child("http", args, log_path=tmp_path / "http.log", port=port).start()
    try:
        child.wait_ready(30)
    finally:
        child.stop(grace=2)
