"""What a replay runs: how many batches, which drift and when, which feedback, which random seed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

DriftKind = Literal["none", "shift", "gradual", "relabel"]
FeedbackKind = Literal["honest", "noisy", "adversarial", "targeted"]

# A recalibrated scanner: variance reads 2.0 higher and entropy 4.0 higher than before, while which
# notes are forged does not change. A linear model can learn both calibrations at once (entropy barely
# matters to the old boundary, so it can tell the two apart), which makes adaptation possible without
# giving up the seed data.
DEFAULT_SHIFT = (2.0, 0.0, 0.0, 4.0)
# Notes whose variance is below this quantile of the data set are now all declared forged (a stricter
# rule for a region of the feature space). About 3.5% of labels change.
DEFAULT_RELABEL_QUANTILE = 0.3
OUTLIER_VALUE = 1e100


@dataclass(frozen=True)
class Scenario:
    name: str
    batches: int = 16
    batch_size: int = 50
    drift: DriftKind = "shift"
    drift_at: int = 4  # index of the first batch drawn from the drifted distribution
    ramp: int = 8  # gradual drift: batches from the first drifted one to the full shift
    feedback: FeedbackKind = "honest"
    noise_rate: float = 0.0  # noisy feedback: probability that a rating is flipped
    rated_share: float = 1.0  # share of batches that get rated at all (each rated in full)
    minority_share: float = 0.0  # > 0: batches (and the truth set) hold this share of class 1
    outlier_at: int = -1  # >= 0: one row of this batch carries an absurd value (1e100)
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
        if not 0.0 < self.rated_share <= 1.0:
            raise ValueError("rated_share must be above 0 and at most 1")
        if not 0.0 <= self.minority_share < 0.5:
            raise ValueError("minority_share must be from 0 (the data's own balance) to below 0.5")
        if self.ramp < 1:
            raise ValueError("ramp must be at least 1 batch")

    def drifted(self, batch: int) -> bool:
        return self.drift != "none" and batch >= self.drift_at

    def drift_fraction(self, batch: int) -> float:
        """How much of the drift applies at ``batch``: 0 before it, 1 after (a ramp when gradual)."""
        if not self.drifted(batch):
            return 0.0
        if self.drift == "gradual":
            return min(1.0, (batch - self.drift_at + 1) / self.ramp)
        return 1.0

    def with_(self, **changes: Any) -> Scenario:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, Scenario] = {
    "no-drift": Scenario("no-drift", drift="none"),
    "sudden-drift": Scenario("sudden-drift", drift="shift"),
    "gradual-drift": Scenario("gradual-drift", drift="gradual", batches=20, drift_at=2, ramp=10),
    "sparse-feedback": Scenario("sparse-feedback", drift="shift", batches=40, rated_share=0.1),
    "label-noise": Scenario("label-noise", drift="shift", feedback="noisy", noise_rate=0.2),
    "targeted-poisoning": Scenario("targeted-poisoning", drift="none", feedback="targeted"),
    "class-imbalance": Scenario("class-imbalance", drift="shift", minority_share=0.05),
    "one-outlier": Scenario("one-outlier", drift="shift", outlier_at=5),
    "relabel": Scenario("relabel", drift="relabel"),
    "adversarial": Scenario("adversarial", drift="shift", feedback="adversarial"),
}
# The scenarios `svmflow evaluate` runs by default (the others are there to run by name).
DEFAULT_SCENARIOS = [name for name in PRESETS if name not in ("relabel", "adversarial")]
