"""The paired tests the promotion gate uses, and the alpha each repeated test may spend.

The comparison is paired: both models answer the same rows, and only the rows where exactly one of them
is right (the discordant rows) say anything about which is better. Under "equally good" each discordant
row is as likely to favour either model, so the exact null distribution is a sign-flip over those rows:
with equal weights this is the exact McNemar test; with class-balanced weights it is the same test for
balanced accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class PairedTest:
    challenger_only: int  # rows only the challenger got right
    champion_only: int  # rows only the champion got right
    difference: float  # challenger minus champion, in the metric's units
    lower: float  # one-sided 95% lower bound of the difference
    p_value: float  # one-sided: the chance of a lead at least this large if both are equally good

    @property
    def discordant(self) -> int:
        return self.challenger_only + self.champion_only


def paired_sign_test(
    challenger_right: NDArray[np.bool_], champion_right: NDArray[np.bool_], weights: NDArray[np.float64]
) -> PairedTest:
    """Exact one-sided test that the challenger's weighted score beats the champion's.

    ``weights`` sum to 1 (see ``metrics.row_weights``); rows with the same weight form a group, and the
    null distribution is the convolution of one symmetric binomial per group.
    """
    ours = challenger_right & ~champion_right
    theirs = champion_right & ~challenger_right
    delta = weights * (ours.astype(float) - theirs.astype(float))
    difference = float(delta.sum())
    n = len(weights)
    if n > 1:
        per_row = delta * n  # difference = mean(per_row)
        se = float(np.std(per_row, ddof=1)) / math.sqrt(n)
    else:
        se = 0.0
    lower = difference - 1.6448536269514722 * se
    p_value = _sign_flip_p_value(weights[ours | theirs], difference)
    return PairedTest(int(ours.sum()), int(theirs.sum()), difference, lower, p_value)


def _sign_flip_p_value(discordant_weights: NDArray[np.float64], observed: float) -> float:
    # scipy.stats takes about a second to import: loaded on first use, not on every cold start.
    from scipy import stats

    if len(discordant_weights) == 0:
        return 1.0
    # Group equal weights (rounded: they come from 1/count); at most one group per class.
    groups: dict[float, int] = {}
    for w in np.round(discordant_weights, 12).tolist():
        groups[w] = groups.get(w, 0) + 1
    # Distribution of sum_g w_g * (2 B_g - m_g), B_g ~ Binomial(m_g, 1/2), as (values, probabilities).
    values = np.zeros(1)
    probs = np.ones(1)
    for weight, count in groups.items():
        k = np.arange(count + 1)
        group_values = weight * (2 * k - count)
        group_probs = stats.binom.pmf(k, count, 0.5)
        values = np.add.outer(values, group_values).ravel()
        probs = np.outer(probs, group_probs).ravel()
    # A small tolerance: the observed value is one of the support points, computed the same way.
    tolerance = 1e-9 * max(1.0, abs(observed))
    return float(min(1.0, probs[values >= observed - tolerance].sum()))


def worse_than_reference(errors: int, rows: int, reference_error: float) -> float:
    """One-sided exact binomial p-value that the error rate on ``rows`` exceeds ``reference_error``."""
    from scipy import stats

    if rows == 0:
        return 1.0
    reference_error = min(max(reference_error, 1e-6), 1 - 1e-6)
    return float(stats.binom.sf(errors - 1, rows, reference_error))


def spent_alpha(alpha: float, look: int) -> float:
    """The alpha the ``look``-th test against one champion may use: alpha / (k (k + 1)).

    These sum to ``alpha`` over all looks, so however often the gate re-tests while two models are
    equally good, the chance that any of those tests promotes is at most ``alpha`` (a union bound: it
    holds even though successive windows share rows).
    """
    if look < 1:
        raise ValueError("looks are counted from 1")
    return alpha / (look * (look + 1))


def discordant_needed(alpha: float) -> int:
    """The fewest discordant rows that can reach ``alpha`` (all of them favouring the challenger)."""
    return max(1, math.ceil(math.log2(1.0 / alpha)))


def labels_needed(alpha: float, disagreement: float, floor: int, ceiling: int) -> int:
    """New labels before a test is worth running: enough that the expected number of discordant rows
    could be significant at ``alpha``, with a margin of two for rows that go the other way."""
    disagreement = min(max(disagreement, 0.01), 1.0)
    needed = math.ceil((discordant_needed(alpha) + 2) / disagreement)
    return int(min(max(needed, floor), ceiling))
