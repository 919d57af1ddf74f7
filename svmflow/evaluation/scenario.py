"""What a replay runs: how many batches, which drift and when, which feedback, which random seed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

DriftKind = Literal["none", "shift", "relabel"]
FeedbackKind = Literal["honest", "noisy", "adversarial"]

# A recalibrated scanner: variance reads 2.0 higher and entropy 4.0 higher than before, while which
# notes are forged does not change. The seed model misreads about one note in six afterwards; a linear
# model can learn both calibrations at once (entropy barely matters to the old boundary, so it can tell
# the two apart), which makes adaptation possible without giving up the seed data.
DEFAULT_SHIFT = (2.0, 0.0, 0.0, 4.0)
# Notes whose variance is below this quantile of the data set are now all declared forged (a stricter
# rule for a region of the feature space). About 3.5% of labels change.
DEFAULT_RELABEL_QUANTILE = 0.3


@dataclass(frozen=True)
class Scenario:
    name: str
    batches: int = 16
    batch_size: int = 50
    drift: DriftKind = "shift"
    drift_at: int = 4  # index of the first batch drawn from the drifted distribution
    feedback: FeedbackKind = "honest"
    noise_rate: float = 0.0  # noisy feedback: probability that a rating is flipped
    seed: int = 0
    shift: tuple[float, ...] = field(default=DEFAULT_SHIFT)
    relabel_quantile: float = DEFAULT_RELABEL_QUANTILE

    def __post_init__(self) -> None:
        if self.batches < 1 or self.batch_size < 1:
            raise ValueError("a scenario needs at least one batch of at least one row")
        if not 0.0 <= self.noise_rate <= 1.0:
            raise ValueError("noise_rate must be between 0 and 1")
        if self.feedback == "noisy" and self.noise_rate == 0.0:
            raise ValueError("noisy feedback needs a noise_rate above 0")
        if not 0.0 < self.relabel_quantile < 1.0:
            raise ValueError("relabel_quantile must be between 0 and 1")

    def drifted(self, batch: int) -> bool:
        return self.drift != "none" and batch >= self.drift_at

    def with_(self, **changes: Any) -> Scenario:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, Scenario] = {
    "stable-honest": Scenario("stable-honest", drift="none", feedback="honest"),
    "drift-honest": Scenario("drift-honest", drift="shift", feedback="honest"),
    "drift-noisy": Scenario("drift-noisy", drift="shift", feedback="noisy", noise_rate=0.2),
    "drift-adversarial": Scenario("drift-adversarial", drift="shift", feedback="adversarial"),
    "relabel-honest": Scenario("relabel-honest", drift="relabel", feedback="honest"),
}
