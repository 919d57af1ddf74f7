"""The boundaries the handlers depend on. Adapters implement them per mode (see ``bootstrap``)."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import BinaryIO, Protocol


class PublishFuture(Protocol):
    def result(self, timeout: float | None = None) -> str: ...


class Publisher(Protocol):
    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> PublishFuture:
        """Queue a message; ``result()`` returns its id once the bus has accepted it."""
        ...


@dataclass(frozen=True)
class Blob:
    data: bytes
    generation: int


class BlobStore(Protocol):
    """A bucket with Cloud Storage's generation preconditions."""

    uri_prefix: str

    def read(self, path: str) -> Blob | None: ...

    def generation(self, path: str) -> int | None:
        """The object's current generation without reading its content; None if absent."""
        ...

    def write(self, path: str, data: bytes, *, if_generation_match: int | None = None) -> int:
        """Write and return the new generation. ``if_generation_match=0`` means "only if absent".

        Raises ``PreconditionFailedError`` when the object's generation is not the one expected.
        """
        ...

    def list(self, prefix: str) -> list[str]: ...

    def size(self, path: str) -> int | None:
        """The object's size in bytes; None if absent."""
        ...

    def open(self, path: str) -> BinaryIO | None:
        """The object as a stream read in chunks (a file of any size in bounded memory); None if absent."""
        ...

    # builtins.list: in the class body, `list` is the method above.
    def compose(self, sources: builtins.list[str], target: str, header: bytes = b"") -> int:
        """Write ``header`` then each source, in order, as ``target``; returns its generation. Streams:
        no source is held in memory whole."""
        ...

    def delete(self, path: str) -> None: ...


class Secrets(Protocol):
    def get(self, name: str) -> str: ...
