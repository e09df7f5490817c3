"""Whether the articles answer a question, decided before the model runs.

A question close to the articles' topics that they do not answer ("How long
did the Austin–Shoigu call last?") retrieves sentences about the same people
and the same call: similarity alone cannot tell it from an answerable one.
What can: how well the best sentence (the quote) fits beside the others, how
much of the question it holds, and whether it holds a phrase of the kind
asked for (a date for "when", a number for "how many"). These signals are
weighed by a logistic regression fitted on built unanswerable questions
(eval/negatives.py: an answerable question whose answering paragraph is taken
out of the corpus, beside its answerable twin), on ARCD, XQuAD in both
languages and dev; its threshold was chosen for at most 5% false refusals on
them. The weights are plain numbers here so the decision reads as it is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .quoting import Candidate

FEATURES = ("sim", "chunk", "overlap", "kind", "no_kind", "lead", "best", "same_script")


def signals(candidates: list[Candidate], best: float) -> dict[str, float]:
    """What is known of a question before its model runs: the quote's features, its lead over the
    next sentence, and the best evidence similarity."""
    if not candidates:
        return dict.fromkeys(FEATURES, 0.0)
    first = candidates[0]
    lead = first.score - candidates[1].score if len(candidates) > 1 else 1.0
    quoted = {f: float(first.features.get(f, 0.0)) for f in ("sim", "chunk", "overlap", "kind", "no_kind", "same_script")}
    return {**quoted, "lead": lead, "best": best}


@dataclass(frozen=True)
class Fit:
    """A logistic regression over standardized signals: the probability that the articles do not answer."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float  # refuse at this probability or above

    def probability(self, values: dict[str, float]) -> float:
        z = self.intercept + sum(c * (values[f] - m) / s for f, m, s, c in zip(FEATURES, self.mean, self.scale, self.coef, strict=True))
        return 1.0 / (1.0 + math.exp(-z))

    def refuses(self, values: dict[str, float]) -> bool:
        return self.probability(values) >= self.threshold


# `eval/negatives.py --sets dev,arcd,xquad,xquad_en --size 300 --fit`: 809 built unanswerable questions and
# their answerable twins, with dev's own questions; the threshold keeps false refusals at 5% on them.
FIT = Fit(
    mean=(0.4522, 0.442, 0.2466, 0.34, 0.0551, 1.2851, 0.4578, 0.6511),
    scale=(0.1355, 0.1322, 0.2796, 0.4737, 0.2282, 1.3561, 0.1316, 0.4766),
    coef=(-0.5349, -0.1396, -0.4813, 0.0257, 0.1337, -0.3931, -0.7851, 0.6446),
    intercept=-0.0821,
    threshold=0.7963,
)


THIN = 0.5  # an answer at or above this doubt is shown as resting on thin evidence (as likely unanswered as not)


def doubt(candidates: list[Candidate], best: float) -> float:
    """The fitted probability that the articles do not answer a question whose quote candidates these are."""
    return round(FIT.probability(signals(candidates, best)), 4)
