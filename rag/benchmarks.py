"""Outside question sets in SQuAD form (ARCD, the shared XQuAD half) as corpora
and question files that `rag eval` runs like its own sets.

Each article of a SQuAD file becomes one corpus file (its title line, then its
paragraphs), indexed like the news articles in a folder of its own
(`work/<corpus>/corpus`, `work/<corpus>/index`, kept between runs). Questions
are sampled evenly (every k-th) so a sample spreads over the articles, and
become `rag eval` entries: the gold spans are the one alias group and the
quote's evidence.

XQuAD's Arabic and English files are parallel (same ids): `xquad_en` asks the
English question over the Arabic articles, scores the answer against the
translators' English answer, and keeps the Arabic gold span as the evidence a
shown sentence must hold. `arcd_en` is the project's own English rendering of
45 ARCD questions (eval/arcd_en.jsonl).

Nothing here downloads: the files are those of ../shared/benchmarks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .settings import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared" / "benchmarks"
_SPAN_EDGES = " \t\n.,،؛;:()\"'«»“”"  # gold spans often carry the punctuation around them: "(15 يناير 1918", "في عام 1995،"


@dataclass(frozen=True)
class Outside:
    """An outside question set: which corpus, which questions, how many."""

    name: str
    corpus: str  # folder name under the work folder; sets over the same articles share it
    source: Path  # the SQuAD file whose articles are the corpus
    questions_from: Path  # the SQuAD file (or, for arcd_en, the jsonl) the questions come from
    language: str
    sample: int  # questions asked, evenly spread (0: all)
    about: str


OUTSIDE: dict[str, Outside] = {
    o.name: o
    for o in (
        Outside("arcd", "arcd", SHARED / "arcd" / "arcd-test.json", SHARED / "arcd" / "arcd-test.json", "ar", 100,
                "ARCD: crowd-written Arabic questions over Arabic Wikipedia (every 7th of 702)"),
        Outside("arcd_en", "arcd", SHARED / "arcd" / "arcd-test.json", REPO_ROOT / "eval" / "arcd_en.jsonl", "en", 0,
                "45 of the ARCD sample's questions put into English, with English answers"),
        Outside("xquad", "xquad", SHARED / "xquad" / "xquad.ar.json", SHARED / "xquad" / "xquad.ar.json", "ar", 100,
                "XQuAD, shared half: Arabic questions over Arabic Wikipedia (every 6th of 612)"),
        Outside("xquad_en", "xquad", SHARED / "xquad" / "xquad.ar.json", SHARED / "xquad" / "xquad.en.json", "en", 100,
                "XQuAD, shared half: the same questions in English, scored against the translators' English answers"),
    )
}


def clean_span(text: str) -> str:
    """A gold span without the punctuation and spaces around it."""
    return text.strip(_SPAN_EDGES)


def _articles(source: Path) -> list[dict[str, Any]]:
    return list(json.loads(source.read_text(encoding="utf-8"))["data"])


def write_corpus(source: Path, folder: Path, prefix: str) -> None:
    """One corpus file per article of a SQuAD file: `<prefix>_<nnn>.txt`, its title line, then its paragraphs."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, article in enumerate(_articles(source)):
        title = str(article.get("title") or f"{prefix} {number}").replace("_", " ")
        paragraphs = [p["context"].strip() for p in article["paragraphs"]]
        # the title under the article's name, as a page would show it (a one-word first line is read as chrome)
        text = "\n".join([f"{title} - ويكيبيديا", *paragraphs]) + "\n"
        path = folder / f"{prefix}_{number:03d}.txt"
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")


def squad_questions(source: Path, prefix: str, language: str, evidence_from: Path | None = None) -> list[dict[str, Any]]:
    """Every question of a SQuAD file as a `rag eval` entry. With `evidence_from` (the parallel
    Arabic file), the gold spans a shown sentence must hold are that file's, by question id."""
    arabic: dict[str, list[str]] = {}
    if evidence_from is not None:
        for article in _articles(evidence_from):
            for paragraph in article["paragraphs"]:
                for qa in paragraph["qas"]:
                    arabic[qa["id"]] = _spans(qa)
    out = []
    for number, article in enumerate(_articles(source)):
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                spans = _spans(qa)
                out.append({"id": f"{prefix}-{qa['id']}" + ("-en" if language == "en" else ""), "language": language, "category": prefix,
                            "question": qa["question"].strip(), "answerable": True, "answers": [spans], "doc_ids": [f"{prefix}_{number:03d}"],
                            "evidence": arabic.get(qa["id"], spans) if evidence_from is not None else spans})
    return out


def _spans(qa: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(span for a in qa["answers"] if (span := clean_span(a["text"]))))


def sample(entries: list[Any], size: int) -> list[Any]:
    """Every k-th entry, `size` of them (all when size is 0 or at least their number)."""
    if not size or size >= len(entries):
        return list(entries)
    step = len(entries) // size
    return entries[::step][:size]


def prepare(name: str, work: Path, size: int | None = None) -> tuple[Path, Path]:
    """The corpus folder and the questions file of an outside set, written under work: its usual
    sample, or `size` questions (0: all) for a study that needs more."""
    o = OUTSIDE[name]
    size = o.sample if size is None else size
    root = work / o.corpus
    write_corpus(o.source, root / "corpus", o.corpus)
    if o.questions_from.suffix == ".jsonl":
        return root / "corpus", o.questions_from
    entries = squad_questions(o.questions_from, o.corpus, o.language, o.source if o.questions_from != o.source else None)
    path = root / (f"{name}.jsonl" if size == o.sample else f"{name}-{size or 'all'}.jsonl")
    text = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in sample(entries, size))
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return root / "corpus", path
