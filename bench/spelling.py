"""How often a name's English spelling heard by sound is the usual one: each
word of the people's names list (`rag.spelling._people`, Arabic Wikipedia's
names of well-known people) spelled by sound alone, as if the list did not
hold it (leave one out), against the spelling the list gives.

    .venv/bin/python bench/spelling.py

A word of a name outside the list gets exactly this treatment, so these
figures say how far a reader can trust a spelling marked as heard (the answer
shows the Arabic beside it). Prints the share spelled as the list spells it,
spelled otherwise, and not spelled at all, by word length and by the cost of
the best match (`Spelling.cost`, lower is closer).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag import spelling  # noqa: E402


def main() -> None:
    people = spelling._people()
    outcome: Counter[str] = Counter()
    by_length: dict[str, Counter[str]] = {}
    by_cost: dict[str, Counter[str]] = {}
    wrong: list[tuple[str, str, str]] = []
    for arabic, english in sorted(people.items()):
        heard = spelling.by_sound(arabic)
        result = "none" if heard is None else "same" if heard.english.lower() == english.lower() else "other"
        outcome[result] += 1
        length = "≤4 letters" if len(arabic) <= 4 else "5–6 letters" if len(arabic) <= 6 else "≥7 letters"
        by_length.setdefault(length, Counter())[result] += 1
        if heard is not None:
            band = "cost < 0" if heard.cost < 0 else "cost 0–0.5" if heard.cost < 0.5 else "cost ≥ 0.5"
            by_cost.setdefault(band, Counter())[result] += 1
            if result == "other" and len(wrong) < 15:
                wrong.append((arabic, english, heard.english))
    total = sum(outcome.values())
    print(f"{total} words of people's names, each spelled by sound with the list left out")
    print(f"{'':<14}{'as the list':>12}{'otherwise':>11}{'no spelling':>13}{'words':>7}")
    order = ("≤4 letters", "5–6 letters", "≥7 letters", "cost < 0", "cost 0–0.5", "cost ≥ 0.5")
    rows = {"all": outcome, **by_length, **by_cost}
    for name, counts in sorted(rows.items(), key=lambda row: -1 if row[0] == "all" else order.index(row[0])):
        n = sum(counts.values())
        print(f"{name:<14}{counts['same'] / n:>12.2f}{counts['other'] / n:>11.2f}{counts['none'] / n:>13.2f}{n:>7}")
    print("some spelled otherwise (Arabic, the list, by sound):", "; ".join(f"{a} {e} {h}" for a, e, h in wrong))


if __name__ == "__main__":
    main()
