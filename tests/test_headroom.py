"""eval/headroom.py: the quote chosen by the gold, and the best phrase a quote holds."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "eval"))
import headroom  # noqa: E402

SENTENCES = ["قال الكرملين إن المحادثات جرت في أنقرة.", "تحدث سوليفان مع يوري أوشاكوف ونيكولاي باتروشيف.", "عُلّقت عمليات التفتيش في مارس."]


def ranked(_ranker: Any, _question: str, *_args: Any, **_kwargs: Any) -> list[Any]:
    return [SimpleNamespace(text=t) for t in SENTENCES]


def test_the_sentence_holding_the_gold_goes_first_and_the_rest_keep_their_order() -> None:
    question = "مع من تحدث سوليفان؟"
    rank = headroom.gold_first(ranked, {question: ["سوليفان مع يوري أوشاكوف"]})
    assert [c.text for c in rank(None, f"  {question} ")] == [SENTENCES[1], SENTENCES[0], SENTENCES[2]]
    assert [c.text for c in rank(None, "متى عُلّقت عمليات التفتيش؟")] == SENTENCES  # no gold known: the ranking as it is


def test_the_best_phrase_is_the_run_of_the_quote_closest_to_the_gold() -> None:
    assert headroom.best_phrase(SENTENCES[1], [["يوري أوشاكوف"]], "ar", 12) == 1.0
    both = [["أوشاكوف"], ["باتروشيف"]]  # no run holds the two names alone: "أوشاكوف ونيكولاي باتروشيف" is the closest
    assert 0.5 < headroom.best_phrase(SENTENCES[1], both, "ar", 1) < headroom.best_phrase(SENTENCES[1], both, "ar", 3) < 1.0
    assert headroom.best_phrase(SENTENCES[0], [["بيسكوف"]], "ar", 12) == 0.0
