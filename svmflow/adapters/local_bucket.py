"""A folder that behaves like a Cloud Storage bucket, generation preconditions included."""

from __future__ import annotations

import builtins
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from svmflow.errors import PreconditionFailedError
from svmflow.ports import Blob

_META = ".generations"


class LocalBucket:
    """Objects are files; each object's generation sits in a sidecar under ``.generations/``.

    One ``flock`` per bucket makes compare-and-write atomic across threads and processes, which is
    what the production pointer's precondition needs.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.uri_prefix = f"file://{self.root}/"
        (self.root / _META).mkdir(parents=True, exist_ok=True)
        self._lock_path = self.root / _META / ".lock"
        self._lock_path.touch(exist_ok=True)

    @contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        with self._lock_path.open("rb") as handle:
            fcntl.flock(handle, mode)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _object(self, path: str) -> Path:
        target = (self.root / path).resolve()
        if self.root not in target.parents or target.name.startswith(".") or _META in target.parts:
            raise ValueError(f"invalid object name {path!r}")
        return target

    def _meta(self, path: str) -> Path:
        return self.root / _META / f"{path}.gen"

    def _current_generation(self, path: str) -> int | None:
        try:
            return int(self._meta(path).read_text())
        except FileNotFoundError:
            return None

    def read(self, path: str) -> Blob | None:
        target = self._object(path)
        with self._locked(fcntl.LOCK_SH):
            generation = self._current_generation(path)
            if generation is None or not target.exists():
                return None
            return Blob(target.read_bytes(), generation)

    def generation(self, path: str) -> int | None:
        self._object(path)
        with self._locked(fcntl.LOCK_SH):
            return self._current_generation(path)

    def write(self, path: str, data: bytes, *, if_generation_match: int | None = None) -> int:
        target = self._object(path)
        with self._locked(fcntl.LOCK_EX):
            current = self._current_generation(path)
            if if_generation_match is not None and (current or 0) != if_generation_match:
                raise PreconditionFailedError(
                    f"{path}: generation is {current or 0}, expected {if_generation_match}"
                )
            generation = max(time.time_ns(), (current or 0) + 1)
            _atomic_write(target, data)
            _atomic_write(self._meta(path), str(generation).encode())
            return generation

    def list(self, prefix: str) -> list[str]:
        found = []
        for file in self.root.rglob("*"):
            relative = file.relative_to(self.root).as_posix()
            if file.is_file() and not relative.startswith(_META) and relative.startswith(prefix):
                found.append(relative)
        return sorted(found)

    def size(self, path: str) -> int | None:
        target = self._object(path)
        return target.stat().st_size if target.is_file() else None

    def open(self, path: str) -> BinaryIO | None:
        target = self._object(path)
        if not target.is_file():
            return None
        # A file put in the folder by hand (as a user drops a bulk input) has no generation: still an
        # object, as an upload to a real bucket would be.
        return target.open("rb")

    # builtins.list: in the class body, `list` is the method above.
    def compose(self, sources: builtins.list[str], target: str, header: bytes = b"") -> int:
        destination = self._object(target)
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=destination.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(header)
                for source in sources:
                    with self._object(source).open("rb") as part:
                        shutil.copyfileobj(part, out, 1024 * 1024)
            with self._locked(fcntl.LOCK_EX):
                generation = max(time.time_ns(), (self._current_generation(target) or 0) + 1)
                os.replace(tmp, destination)
                _atomic_write(self._meta(target), str(generation).encode())
                return generation
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete(self, path: str) -> None:
        target = self._object(path)
        with self._locked(fcntl.LOCK_EX):
            target.unlink(missing_ok=True)
            self._meta(path).unlink(missing_ok=True)


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
