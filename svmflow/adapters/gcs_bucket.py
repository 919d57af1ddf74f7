"""Cloud Storage (or fake-gcs-server) as the model bucket."""

from __future__ import annotations

import builtins
import contextlib
import uuid
from typing import Any, BinaryIO

from svmflow.errors import PreconditionFailedError
from svmflow.ports import Blob


class GcsBucket:
    def __init__(self, client: Any, bucket_name: str) -> None:
        self._bucket = client.bucket(bucket_name)
        self.uri_prefix = f"gs://{bucket_name}/"

    def read(self, path: str) -> Blob | None:
        from google.api_core.exceptions import NotFound

        blob = self._bucket.blob(path)
        try:
            data = blob.download_as_bytes()
        except NotFound:
            return None
        return Blob(data, int(blob.generation))

    def generation(self, path: str) -> int | None:
        blob = self._bucket.get_blob(path)
        return None if blob is None else int(blob.generation)

    def write(self, path: str, data: bytes, *, if_generation_match: int | None = None) -> int:
        from google.api_core.exceptions import PreconditionFailed as GcsPreconditionFailed

        blob = self._bucket.blob(path)
        try:
            blob.upload_from_string(
                data, content_type="application/json", if_generation_match=if_generation_match
            )
        except GcsPreconditionFailed as exc:
            raise PreconditionFailedError(f"{path}: generation is not {if_generation_match}") from exc
        return int(blob.generation)

    def list(self, prefix: str) -> list[str]:
        return sorted(blob.name for blob in self._bucket.client.list_blobs(self._bucket, prefix=prefix))

    def size(self, path: str) -> int | None:
        blob = self._bucket.get_blob(path)
        return None if blob is None else int(blob.size)

    def open(self, path: str) -> BinaryIO | None:
        blob = self._bucket.get_blob(path)
        if blob is None:
            return None
        # Reads in 8 MiB ranges, pinned to this generation: a file replaced mid-read is an error, not
        # a mix of two files.
        reader: BinaryIO = blob.open("rb", chunk_size=8 * 1024 * 1024)  # google-cloud-storage is untyped
        return reader

    # builtins.list: in the class body, `list` is the method above.
    def compose(self, sources: builtins.list[str], target: str, header: bytes = b"") -> int:
        """Cloud Storage composes at most 32 objects per call: fold them in, 31 at a time, into a
        scratch object, then copy that to ``target`` in one step, so ``target`` is never half-built."""
        scratch = self._bucket.blob(f"{target}.compose-{uuid.uuid4().hex}")
        scratch.upload_from_string(header, content_type="text/plain")
        try:
            pending = list(sources)
            while pending:
                group, pending = pending[:31], pending[31:]
                scratch.compose([scratch, *(self._bucket.blob(name) for name in group)])
            final = self._bucket.blob(target)
            final.compose([scratch])
        finally:
            scratch.delete()
        final.reload()
        return int(final.generation)

    def delete(self, path: str) -> None:
        from google.api_core.exceptions import NotFound

        with contextlib.suppress(NotFound):
            self._bucket.blob(path).delete()


def make_client(project: str, endpoint: str = "") -> Any:
    """A storage client; with ``endpoint`` (fake-gcs-server) it is anonymous and talks plain HTTP."""
    # Not `from google.cloud import storage`: mypy misreads that attribute of the namespace package.
    import google.cloud.storage as storage

    if endpoint:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(
            project=project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]  # google-auth leaves its __init__ unannotated
            client_options={"api_endpoint": endpoint},
        )
    return storage.Client(project=project)
