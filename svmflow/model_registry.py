"""Model artifacts, the production pointer, and serving with hot swap.

Bucket layout::

    models/<version>/model.json      the weights (safe JSON, never a pickle)
    models/<version>/metadata.json   metrics, data fingerprint, library versions, sha256 of model.json
    models/production.json           the pointer: which version serves, and its sha256
    models/shadow.json               the challenger scoring live batches in shadow, if any
    jobs/<job_id>.json               the outcome of a training job, so a redelivered request repeats it

The pointer is only ever written with a generation precondition, so of two concurrent promotions
exactly one wins; rolling back is writing the pointer again.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from svmflow import __version__
from svmflow.contracts import ArtifactMetrics
from svmflow.domain.linear_model import LinearModel, sha256_hex
from svmflow.errors import ArtifactIntegrityError, ModelNotFoundError, PreconditionFailedError, TransientError
from svmflow.ports import BlobStore

log = logging.getLogger(__name__)

POINTER_PATH = "models/production.json"
SHADOW_PATH = "models/shadow.json"


HISTORY_LENGTH = 50
PINNED_VERSIONS = 4  # versions other than production a prediction instance keeps loaded


class Pointer(msgspec.Struct, kw_only=True):
    version: str
    sha256: str
    promoted_at: datetime
    previous_version: str | None = None  # the version a rollback returns to: ``history[-1]``
    reason: str = ""
    history: list[str] = []  # versions that served before this one, oldest first


class ShadowPointer(msgspec.Struct, kw_only=True):
    """A challenger that passed the gate and scores live batches beside ``champion_version`` until
    ``promote_after`` records have been scored; then it is promoted."""

    version: str
    sha256: str
    champion_version: str
    stored_at: datetime
    job_id: str
    reason: str  # the gate's sentence
    promote_after: int


class ArtifactMetadata(msgspec.Struct, kw_only=True):
    version: str
    sha256: str
    created_at: datetime
    job_id: str
    data_fingerprint: str
    train_size: int
    feedback_rows: int  # feedback labels that existed when this model was trained
    metrics: ArtifactMetrics
    library_versions: dict[str, str]
    artifact_format: str = "svmflow.linear-svm/1"
    # The data set spec the version was trained for (``model_digest``: feature names and order, label,
    # classes) and its class names by label. Unset on versions trained before specs existed.
    model_digest: str | None = None
    class_names: list[str] | None = None


class SpecMismatchError(ValueError):
    """A model version was trained for another data set spec than the one served."""


@dataclass(frozen=True)
class SpecBinding:
    """What a served model must have been trained for: the served spec's name and ``model_digest``,
    and its feature and class names (checked instead for a version from before specs)."""

    spec_name: str
    model_digest: str
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]

    def check(self, version: str, metadata: ArtifactMetadata, model: LinearModel) -> None:
        if metadata.model_digest is None:
            if model.feature_names == self.feature_names and model.n_classes == len(self.class_names):
                return
            raise SpecMismatchError(
                f"model {version} predates data set specs and its features {list(model.feature_names)} "
                f"or {model.n_classes} classes do not match spec {self.spec_name!r}"
            )
        if metadata.model_digest != self.model_digest:
            raise SpecMismatchError(
                f"model {version} was trained for another data set spec (model digest "
                f"{metadata.model_digest[:12]}), not for the served spec {self.spec_name!r} "
                f"({self.model_digest[:12]})"
            )


def library_versions() -> dict[str, str]:
    import numpy
    import sklearn

    return {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "svmflow": __version__,
    }


def new_version(artifact: bytes, job_id: str, now: datetime | None = None) -> str:
    """Sortable by time; the suffix tells apart two jobs that trained identical weights."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    return f"{moment}-{sha256_hex(job_id.encode() + artifact)[:8]}"


class ModelRegistry:
    def __init__(self, bucket: BlobStore) -> None:
        self.bucket = bucket

    def uri(self, version: str) -> str:
        return f"{self.bucket.uri_prefix}models/{version}/"

    def save(self, model: LinearModel, metadata: ArtifactMetadata) -> str:
        """Write the artifact and its metadata once; writing identical bytes again is a no-op."""
        artifact = model.to_bytes()
        if metadata.sha256 != sha256_hex(artifact):
            raise ValueError("metadata sha256 does not match the artifact")
        self._write_once(f"models/{metadata.version}/model.json", artifact)
        self._write_once(
            f"models/{metadata.version}/metadata.json",
            msgspec.json.format(msgspec.json.encode(metadata), indent=2),
        )
        return self.uri(metadata.version)

    def _write_once(self, path: str, data: bytes) -> None:
        try:
            self.bucket.write(path, data, if_generation_match=0)
        except PreconditionFailedError:
            existing = self.bucket.read(path)
            if existing is None or existing.data != data:
                raise

    def metadata(self, version: str) -> ArtifactMetadata:
        blob = self.bucket.read(f"models/{version}/metadata.json")
        if blob is None:
            raise ModelNotFoundError(f"model version {version!r} does not exist")
        return msgspec.json.decode(blob.data, type=ArtifactMetadata)

    def load(self, version: str, expected_sha256: str | None = None) -> LinearModel:
        """Load a version after checking its bytes against the recorded digest (and the pointer's)."""
        metadata = self.metadata(version)
        blob = self.bucket.read(f"models/{version}/model.json")
        if blob is None:
            raise ModelNotFoundError(f"model version {version!r} has no artifact")
        actual = sha256_hex(blob.data)
        for label, expected in (("metadata", metadata.sha256), ("pointer", expected_sha256)):
            if expected is not None and actual != expected:
                raise ArtifactIntegrityError(
                    f"model {version}: sha256 {actual[:12]} does not match the {label}'s {expected[:12]}"
                )
        return LinearModel.from_bytes(blob.data)

    def versions(self) -> list[str]:
        names = self.bucket.list("models/")
        return sorted({n.split("/")[1] for n in names if n.endswith("/metadata.json")})

    # -- the production pointer --------------------------------------------------------------

    def pointer(self) -> tuple[Pointer | None, int]:
        """The pointer and its generation (0 when there is none yet)."""
        blob = self.bucket.read(POINTER_PATH)
        if blob is None:
            return None, 0
        return msgspec.json.decode(blob.data, type=Pointer), blob.generation

    def pointer_generation(self) -> int:
        return self.bucket.generation(POINTER_PATH) or 0

    def promote(
        self, version: str, expected_generation: int, reason: str = "", history: list[str] | None = None
    ) -> Pointer:
        """Point production at ``version`` unless someone else moved the pointer since we read it.

        ``history`` defaults to the current pointer's history plus the current version."""
        metadata = self.metadata(version)
        if history is None:
            current, _ = self.pointer()
            history = [*current.history, current.version] if current else []
        history = history[-HISTORY_LENGTH:]
        pointer = Pointer(
            version=version,
            sha256=metadata.sha256,
            promoted_at=datetime.now(UTC),
            previous_version=history[-1] if history else None,
            reason=reason,
            history=history,
        )
        self.bucket.write(
            POINTER_PATH,
            msgspec.json.encode(pointer),
            if_generation_match=expected_generation,
        )
        return pointer

    def rollback(self, to_version: str | None = None, note: str = "") -> tuple[Pointer, Pointer]:
        """Re-point production at ``to_version`` (default: the version that served before this one).

        Rolling back walks the history backwards: a second rollback goes one version further back,
        never forward again to the version just rolled back from."""
        current, generation = self.pointer()
        if current is None:
            raise ModelNotFoundError("no model is in production; nothing to roll back")
        target = to_version or (current.history[-1] if current.history else None)
        if target is None:
            raise ModelNotFoundError(f"{current.version} has no previous version to roll back to")
        if target == current.version:
            raise ValueError(f"{target} is already in production")
        self.load(target)  # refuse a target whose artifact is missing or altered
        if target in current.history:
            history = current.history[: len(current.history) - 1 - current.history[::-1].index(target)]
        else:  # rolling "back" to a version that never served: remember where we came from
            history = [*current.history, current.version]
        new = self.promote(
            target,
            generation,
            reason=f"rollback from {current.version}" + (f" ({note})" if note else ""),
            history=history,
        )
        return current, new

    # -- the shadow ---------------------------------------------------------------------------

    def shadow(self) -> ShadowPointer | None:
        blob = self.bucket.read(SHADOW_PATH)
        return None if blob is None else msgspec.json.decode(blob.data, type=ShadowPointer)

    def shadow_generation(self) -> int:
        return self.bucket.generation(SHADOW_PATH) or 0

    def set_shadow(self, pointer: ShadowPointer) -> None:
        """A newer challenger replaces the one in shadow: only the latest one is worth promoting."""
        self.bucket.write(SHADOW_PATH, msgspec.json.encode(pointer))

    # -- job outcomes ------------------------------------------------------------------------

    def job_outcome(self, job_id: str) -> bytes | None:
        blob = self.bucket.read(f"jobs/{job_id}.json")
        return None if blob is None else blob.data

    def record_job_outcome(self, job_id: str, event: bytes) -> bytes:
        """Record once; returns the outcome that won if another delivery recorded it first."""
        try:
            self.bucket.write(f"jobs/{job_id}.json", event, if_generation_match=0)
        except PreconditionFailedError:
            existing = self.job_outcome(job_id)
            if existing is not None:
                return existing
            raise
        return event


@dataclass(frozen=True)
class ServedModel:
    version: str
    model: LinearModel


class ModelServer:
    """Keeps the production model in memory and swaps it when the pointer moves.

    The pointer's generation is checked at most every ``refresh_seconds`` (a metadata read, not a
    download); the artifact is fetched and verified only when the generation changes. A version whose
    digest does not match is refused and the previous model keeps serving.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        binding: SpecBinding | None = None,
    ) -> None:
        self.registry = registry
        self.binding = binding
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._served: ServedModel | None = None
        self._generation = -1
        self._checked_at = float("-inf")
        self.loads = 0
        self._pinned: dict[str, ServedModel] = {}
        self._refused: str | None = None  # why the production version is not served, if it is not
        self._shadow: tuple[ShadowPointer, ServedModel] | None = None
        self._shadow_generation = -1
        self._shadow_checked_at = float("-inf")

    def current(self) -> ServedModel:
        now = self._clock()
        served = self._served
        if served is not None and now - self._checked_at < self.refresh_seconds:
            return served
        with self._lock:
            if self._served is None or now - self._checked_at >= self.refresh_seconds:
                self._refresh()
                self._checked_at = now
            if self._served is None:
                raise TransientError(self._refused or "no production model is available yet")
            return self._served

    def shadow(self) -> tuple[ShadowPointer, ServedModel] | None:
        """The model in shadow, if any, looked up as often as the production pointer."""
        now = self._clock()
        if now - self._shadow_checked_at >= self.refresh_seconds:
            with self._lock:
                if now - self._shadow_checked_at >= self.refresh_seconds:
                    self._refresh_shadow()
                    self._shadow_checked_at = now
        return self._shadow

    def _refresh_shadow(self) -> None:
        try:
            generation = self.registry.shadow_generation()
            if generation == self._shadow_generation:
                return
            pointer = self.registry.shadow() if generation else None
            # A shadow of another data set spec is refused as production would be.
            model = None if pointer is None else self._load(pointer.version, pointer.sha256)
        except Exception:
            # Shadow scoring is an extra: whatever goes wrong with it, the champion keeps answering.
            log.warning("cannot load the shadow model; scoring without it", exc_info=True)
            self._shadow = None
            return
        self._shadow_generation = generation
        self._shadow = (
            None if pointer is None or model is None else (pointer, ServedModel(pointer.version, model))
        )

    def pinned(self, version: str, sha256: str) -> ServedModel:
        """A given version, verified against ``sha256`` (a bulk file is predicted by one version from
        its first chunk to its last, even if production moves on meanwhile). Kept for reuse."""
        served = self._served
        if served is not None and served.version == version:
            return served
        with self._lock:
            found = self._pinned.get(version)
            if found is None:
                model = self._load(version, sha256)
                if len(self._pinned) >= PINNED_VERSIONS:
                    self._pinned.pop(next(iter(self._pinned)))
                found = self._pinned[version] = ServedModel(version, model)
                self.loads += 1
            return found

    def _refresh(self) -> None:
        try:
            generation = self.registry.pointer_generation()
            if generation == self._generation:
                return
            pointer, generation = self.registry.pointer()
        except Exception:
            if self._served is None:
                raise
            # The bucket is unreachable: the verified model in memory keeps serving until it is back.
            log.warning("cannot read the production pointer; keeping %s", self._served.version, exc_info=True)
            return
        if pointer is None:
            return
        if self._served is not None and pointer.version == self._served.version:
            self._generation = generation
            return
        try:
            model = self._load(pointer.version, pointer.sha256)
        except (ArtifactIntegrityError, ModelNotFoundError, ValueError) as exc:
            self._refused = f"refusing production model {pointer.version}: {exc}"
            log.error(
                "refusing model %s: %s; %s",
                pointer.version,
                exc,
                f"keeping {self._served.version}" if self._served else "no model to serve",
            )
            return
        previous = self._served.version if self._served else None
        self._refused = None
        self._served = ServedModel(pointer.version, model)
        self._generation = generation
        self.loads += 1
        log.info("serving model %s (was %s)", pointer.version, previous)

    @property
    def class_names(self) -> list[str] | None:
        """The served spec's class names by label, for poll answers; None without a spec."""
        return None if self.binding is None else list(self.binding.class_names)

    def _load(self, version: str, sha256: str) -> LinearModel:
        """A verified version, refused (``SpecMismatchError``) if it was trained for another spec."""
        model = self.registry.load(version, expected_sha256=sha256)
        if self.binding is not None:
            self.binding.check(version, self.registry.metadata(version), model)
        return model
