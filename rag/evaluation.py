"""Evaluation on a question set: retrieval and answer metrics, a report.

Two sets over the seed articles: `eval/dev.jsonl`, the set changes are chosen
on (its report lists every wrong answer), and `eval/test.jsonl`, frozen once
written and read only as totals: its run writes no per-question results
anywhere, so nothing can be tuned to its questions. `rag eval` runs both and
writes them side by side (eval/report.md).

A question entry:
    {"id", "language", "category", "question", "history"?, "answerable",
     "answers": [[alias, ...], ...], "doc_ids": [...], "evidence": [...]}
An answer is correct when, for every alias group, one alias occurs in it
after normalization (Latin aliases must match whole words); an English answer
must state the fact in English, so Arabic-script aliases count only for Arabic
questions. Citation
precision is the share of citations whose passage contains gold evidence;
recall the share of gold articles cited. Faithfulness is the share of
citations that verified.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import platform
import re
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .retrieval import MODES
from .settings import REPO_ROOT, Settings, user_cache
from .text import normalize

_LATIN = re.compile(r"[A-Za-z]")
_ARABIC = re.compile(r"[\u0600-\u06ff]")


@dataclass(frozen=True)
class Question:
    """One entry of the question set."""

    id: str
    language: str
    category: str
    question: str
    answerable: bool
    answers: list[list[str]]
    doc_ids: list[str]
    evidence: list[str]
    history: list[dict[str, str]]


def load_questions(path: Path) -> list[Question]:
    """The question set, validated."""
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        e = json.loads(line)
        out.append(Question(e["id"], e["language"], e.get("category", "fact"), e["question"], bool(e.get("answerable", True)),
                            e.get("answers", []), e.get("doc_ids", []), e.get("evidence", []), e.get("history", [])))
        if out[-1].answerable and not (out[-1].answers and out[-1].doc_ids):
            raise ValueError(f"{path}:{number}: an answerable question needs answers and doc_ids")
    return out


def alias_present(alias: str, text: str) -> bool:
    """Alias occurs in text after normalization; Latin aliases as whole words."""
    a, t = normalize(alias), normalize(text)
    if not a:
        return False
    if _LATIN.search(alias):
        return re.search(rf"(?<![a-z0-9]){re.escape(a)}(?![a-z0-9])", t) is not None
    return a in t


def answer_correct(answer: str, groups: list[list[str]], language: str = "ar") -> bool:
    """Every alias group has an alias in the answer; in an English answer, an alias not in Arabic script."""
    return bool(groups) and all(any(alias_present(a, answer) for a in group if language == "ar" or not _ARABIC.search(a)) for group in groups)


_ENGLISH_ARTICLES = {"a", "an", "the"}
_TOKEN = re.compile(r"\w+")
_MARKER = re.compile(r"\[\d+\]")


def answer_tokens(text: str, language: str = "ar") -> list[str]:
    """The words an answer is scored on (SQuAD's normalization, with MLQA's for Arabic): normalized,
    no citation markers or punctuation, no English articles, no Arabic article ال; in an English
    answer, no Arabic-script words (the Arabic shown beside a name is a gloss, not a claim)."""
    out = []
    for token in _TOKEN.findall(normalize(_MARKER.sub(" ", text))):
        if token in _ENGLISH_ARTICLES or (language == "en" and _ARABIC.search(token)):
            continue
        if token.startswith("ال") and len(token) > 3:
            token = token[2:]
        out.append(token)
    return out


def gold_strings(groups: list[list[str]], language: str, limit: int = 64) -> list[str]:
    """Every gold answer a group list allows: one alias from each group, joined (English answers: Latin aliases only)."""
    usable = [[a for a in group if language == "ar" or not _ARABIC.search(a)] for group in groups]
    if not usable or not all(usable):
        return []
    combos: list[list[str]] = [[]]
    for group in usable:
        combos = [c + [a] for c in combos for a in group][:limit]
    return [" ".join(c) for c in combos]


def token_f1(answer: str, groups: list[list[str]], language: str = "ar") -> float:
    """SQuAD token F1 of an answer against its closest gold answer (0 without one)."""
    a = Counter(answer_tokens(answer, language))
    best = 0.0
    for gold in gold_strings(groups, language):
        g = Counter(answer_tokens(gold, language))
        common = sum((a & g).values())
        if common:
            precision, recall = common / sum(a.values()), common / sum(g.values())
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def exact_match(answer: str, groups: list[list[str]], language: str = "ar") -> bool:
    """The answer's scored words are those of a gold answer."""
    mine = answer_tokens(answer, language)
    return bool(mine) and any(mine == answer_tokens(gold, language) for gold in gold_strings(groups, language))


def quote_holds(quote: str, evidence: list[str]) -> bool:
    """A shown sentence holds the gold: a gold evidence text is in it, or it is part of one."""
    q = normalize(quote)
    return bool(q) and any((e := normalize(x)) and (e in q or q in e) for x in evidence)


def retrieval_ranks(doc_ids: list[str], ranked_doc_ids: list[str]) -> int | None:
    """1-based rank of the first retrieved chunk from a gold article, or None."""
    for rank, doc in enumerate(ranked_doc_ids, 1):
        if doc in doc_ids:
            return rank
    return None


def recall_at(ranks: list[int | None], k: int) -> float:
    """Share of questions with a gold article in the top k."""
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def mrr(ranks: list[int | None]) -> float:
    """Mean reciprocal rank (0 when not retrieved)."""
    return sum(1 / r for r in ranks if r) / len(ranks) if ranks else 0.0


def citation_precision(cited_texts: list[str], evidence: list[str]) -> float | None:
    """Share of cited passages that contain gold evidence (None when nothing is cited)."""
    if not cited_texts:
        return None
    ev = [normalize(e) for e in evidence]
    return sum(1 for t in cited_texts if any(e in normalize(t) for e in ev)) / len(cited_texts)


def evidence_shown(passage_texts: list[str], evidence: list[str]) -> bool:
    """Some gold evidence is in the passages the model saw (whole, or as a passage sentence)."""
    shown = [normalize(t) for t in passage_texts]
    return any(normalize(e) in t or t in normalize(e) for e in evidence for t in shown if t)


def failure_reason(r: dict[str, Any]) -> str:
    """Why a question failed, from its recorded result."""
    if not r["answerable"]:
        return "answered a question the articles do not answer"
    if r.get("refused"):
        return "refused although the passages hold the answer" if r.get("evidence_in_prompt") else "refused; the evidence sentence was not among the passages"
    if not r.get("evidence_in_prompt"):
        return "the evidence sentence was not among the passages"
    if r.get("citation_precision") == 0:
        return "answered from a passage without the evidence"
    if r["language"] == "en":
        return "evidence shown, but the English answer lacks the gold fact or spells it differently"
    return "evidence shown, but the answer lacks the gold fact"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values, 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


class KeptGenerations:
    """A generator whose finished generations are kept in a file by prompt (and model and sampling
    settings), and taken from it when the same prompt comes again.

    An answer is greedy and depends only on its own prompt (rag.generation), so a rerun, or
    a variant of the pipeline that changes some prompts (eval/ablation.py), generates only
    the prompts it has not seen. Timings of a kept generation are not generation timings."""

    def __init__(self, inner: Any, path: Path, settings: Settings) -> None:
        self.inner = inner
        self.name, self.n_ctx, self.lock = inner.name, inner.n_ctx, inner.lock
        self._path = path
        self._salt = f"{inner.name}|extra_buffers={getattr(inner, 'extra_buffers', None)}|t={settings.temperature}|seed={settings.seed}"
        self._kept: dict[str, list[Any]] = {}
        self._write = threading.Lock()
        self.hits = self.misses = 0
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                with contextlib.suppress(ValueError, KeyError):  # a line cut short by a crash is skipped
                    entry = json.loads(line)
                    self._kept[entry["key"]] = entry["pieces"]

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return int(self.inner.prompt_tokens(messages))

    def stream(self, messages: list[dict[str, str]], max_tokens: int, grammar: str | None = None) -> Iterator[Any]:
        from .generation import Usage

        keyed: list[Any] = [self._salt, messages, max_tokens] + ([grammar] if grammar else [])  # without a grammar, the keys of earlier runs
        key = hashlib.sha256(json.dumps(keyed, ensure_ascii=False).encode()).hexdigest()
        if (kept := self._kept.get(key)) is not None:
            self.hits += 1
            for piece in kept:
                yield Usage(*piece) if isinstance(piece, list) else piece
            return
        self.misses += 1
        pieces: list[Any] = []
        for piece in self.inner.stream(messages, max_tokens, grammar) if grammar else self.inner.stream(messages, max_tokens):
            pieces.append([piece.prompt_tokens, piece.completion_tokens] if isinstance(piece, Usage) else piece)
            yield piece
        self._kept[key] = pieces  # only a generation run to its end is kept (one closed early is not)
        with self._write:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("a", encoding="utf-8") as f:
                f.write(json.dumps({"key": key, "pieces": pieces}, ensure_ascii=False) + "\n")


def run(settings: Settings, questions: list[Question], retrieval_only: bool, progress: bool = True, generator: Any = None, embedder: Any = None,
        modes: tuple[str, ...] = MODES) -> dict[str, Any]:
    """Evaluate retrieval (modes) and, unless retrieval_only, answers (with generator and embedder,
    or the ones settings and the index name)."""
    from . import index as index_mod
    from .embedding import load_embedder
    from .retrieval import Retriever

    ix = index_mod.open_index(settings)
    embedder = embedder or load_embedder(settings, ix.manifest["embedding_model"])
    index_mod.check_model(ix, embedder)
    results: list[dict[str, Any]] = [{"id": q.id, "language": q.language, "category": q.category, "question": q.question, "answerable": q.answerable} for q in questions]
    for mode in modes:
        retriever = Retriever(ix, embedder, mode)
        for q, r in zip(questions, results, strict=True):
            if q.answerable:
                query = " ".join([m["content"] for m in q.history if m.get("role") == "user"][-1:] + [q.question])
                hits = retriever.search(query, 5)
                r[f"rank_{mode}"] = retrieval_ranks(q.doc_ids, [h.chunk.doc_id for h in hits])
    if not retrieval_only:
        from .answering import Assistant
        from .generation import load_generator

        assistant = Assistant(settings, ix, embedder, generator or load_generator(settings))
        for q, r in tqdm(list(zip(questions, results, strict=True)), desc="answering", file=sys.stderr, disable=not progress):
            answer = assistant.ask(q.question, q.history)
            cited = [c.text for c in answer.citations]
            quote = answer.quote.text if answer.quote is not None else ""
            r.update({
                "answer": answer.answer, "draft": answer.draft, "refused": answer.refused,
                "f1": round(token_f1(answer.answer, q.answers, q.language), 3) if q.answerable and not answer.refused else (None if not q.answerable else 0.0),
                "exact": exact_match(answer.answer, q.answers, q.language) if q.answerable and not answer.refused else (None if not q.answerable else False),
                "quote": quote,
                "quote_holds": quote_holds(quote, q.evidence) if q.answerable else None,
                "answer_language": answer.language,
                "correct": (not answer.refused and answer_correct(answer.answer, q.answers, q.language)) if q.answerable else answer.refused,
                "citations": [{"n": c.n, "doc_id": c.doc_id, "supported": c.supported, "quote": c.quote} for c in answer.citations],
                "citation_precision": citation_precision(cited, q.evidence) if q.answerable and not answer.refused else None,
                "citation_recall": (len({c.doc_id for c in answer.citations} & set(q.doc_ids)) / len(q.doc_ids)) if q.answerable and not answer.refused else None,
                "faithfulness": (sum(c.supported for c in answer.citations) / len(answer.citations)) if answer.citations else None,
                "top_score": round(answer.passages[0].score, 3) if answer.passages else None,
                "evidence_in_prompt": evidence_shown([p.text for p in answer.passages], q.evidence) if q.answerable else None,
                **{k: v for k, v in answer.to_json()["timings"].items()},
                "quote_ms": answer.timings.quote_ms,
                "doubt": answer.doubt,
            })
    return {"results": results, "summary": summarize(results, retrieval_only)}


def summarize(results: list[dict[str, Any]], retrieval_only: bool) -> dict[str, Any]:
    """Metrics overall, per language and per category."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        groups["all"].append(r)
        groups[f"lang:{r['language']}"].append(r)
        groups[f"cat:{r['category']}"].append(r)
        groups[f"lang:{r['language']}:cat:{r['category']}"].append(r)
    summary: dict[str, Any] = {}
    for name, rows in groups.items():
        answerable = [r for r in rows if r["answerable"]]
        s: dict[str, Any] = {"n": len(rows), "answerable": len(answerable)}
        for mode in MODES:
            ranks = [r.get(f"rank_{mode}") for r in answerable]
            if ranks and any(f"rank_{mode}" in r for r in answerable):
                s[mode] = {"r@1": round(recall_at(ranks, 1), 3), "r@3": round(recall_at(ranks, 3), 3), "r@5": round(recall_at(ranks, 5), 3), "mrr": round(mrr(ranks), 3)}
        if not retrieval_only:
            unanswerable = [r for r in rows if not r["answerable"]]
            s["accuracy"] = _mean([float(r["correct"]) for r in answerable])
            s["f1"] = _mean([float(r["f1"]) for r in answerable if r.get("f1") is not None])
            s["exact_match"] = _mean([float(r["exact"]) for r in answerable if r.get("exact") is not None])
            s["quote_precision"] = _mean([float(bool(r.get("quote_holds"))) for r in answerable if "quote_holds" in r])
            s["refusal_rate"] = _mean([float(r["refused"]) for r in unanswerable])
            s["false_refusal_rate"] = _mean([float(r["refused"]) for r in answerable])
            s["selective_accuracy"] = _mean([float(r["correct"]) for r in answerable if not r["refused"]])  # of the answers given
            s["citation_precision"] = _mean([r["citation_precision"] for r in answerable if r.get("citation_precision") is not None])
            s["citation_recall"] = _mean([r["citation_recall"] for r in answerable if r.get("citation_recall") is not None])
            s["evidence_in_prompt"] = _mean([float(bool(r.get("evidence_in_prompt"))) for r in answerable])
            s["faithfulness"] = _mean([r["faithfulness"] for r in rows if r.get("faithfulness") is not None])
            s["quote_p50_ms"] = round(percentile([r["quote_ms"] for r in rows if r.get("quote_ms") is not None], 50))
            s["ttft_p50_ms"] = round(percentile([r["ttft_ms"] for r in rows], 50))
            s["ttft_p90_ms"] = round(percentile([r["ttft_ms"] for r in rows], 90))
            s["total_p50_ms"] = round(percentile([r["total_ms"] for r in rows], 50))
            s["total_p90_ms"] = round(percentile([r["total_ms"] for r in rows], 90))
            generated = [r["prompt_tokens"] for r in rows if r["prompt_tokens"]]
            s["prompt_tokens_p50"] = round(statistics.median(generated)) if generated else 0
        summary[name] = s
    return summary


def risk_coverage(results: list[dict[str, Any]], points: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)) -> list[tuple[float, float, float]]:
    """Answers kept from least doubt up (rag.refusal): at each share of the answered questions kept,
    the accuracy of those kept (an unanswerable question answered counts as wrong) and the doubt
    where the cut falls. Questions refused before the doubt is known, or without one, are left out."""
    rows = sorted((r for r in results if r.get("doubt") is not None and not r.get("refused")), key=lambda r: r["doubt"])
    out = []
    for share in points:
        kept = rows[: max(1, round(share * len(rows)))] if rows else []
        if kept:
            out.append((share, sum(bool(r["correct"]) and r["answerable"] for r in kept) / len(kept), kept[-1]["doubt"]))
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.2f}"
    return str(v)


def report_markdown(data: dict[str, Any], settings: Settings, retrieval_only: bool, seconds: float) -> str:
    """eval/report.md: headline tables and the failing questions."""
    s = data["summary"]
    lines = [
        "# Evaluation report", "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, {_cores()} cores; "
        f"embedding {settings.embedding_model}, generator {settings.generator_model}; {len(data['results'])} questions; {seconds / 60:.1f} min.", "",
        "## Retrieval (answerable questions, gold article in top k)", "",
        "| group | mode | R@1 | R@3 | R@5 | MRR |", "|---|---|---|---|---|---|",
    ]
    for group in ("all", "lang:ar", "lang:en"):
        for mode in MODES:
            if mode in s.get(group, {}):
                m = s[group][mode]
                lines.append(f"| {group} | {mode} | {m['r@1']:.2f} | {m['r@3']:.2f} | {m['r@5']:.2f} | {m['mrr']:.3f} |")
    if not retrieval_only:
        cols = ["n", "accuracy", "f1", "exact_match", "quote_precision", "evidence_in_prompt", "refusal_rate", "false_refusal_rate", "selective_accuracy", "citation_precision", "citation_recall", "faithfulness", "quote_p50_ms", "ttft_p50_ms", "ttft_p90_ms", "total_p50_ms", "total_p90_ms", "prompt_tokens_p50"]
        lines += ["", "## Answers", "", "| group | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
        for group in sorted((g for g in s if g.count(":") < 3), key=lambda g: (g != "all", not g.startswith("lang"), g)):
            lines.append(f"| {group} | " + " | ".join(_fmt(s[group].get(c)) for c in cols) + " |")
        wrong = [r for r in data["results"] if not r.get("correct")]
        why = [failure_reason(r) for r in wrong]
        lines += ["", f"## Questions answered wrongly ({len(wrong)})", "", "| id | lang | category | question | answer | why |", "|---|---|---|---|---|---|"]
        for r, reason in zip(wrong, why, strict=True):
            lines.append(f"| {r['id']} | {r['language']} | {r['category']} | {r['question']} | {r['answer'].replace('|', '/').replace(chr(10), ' ')} | {reason} |")
        lines += ["", "| why | questions |", "|---|---|", *(f"| {k} | {v} |" for k, v in Counter(why).most_common())]
        curve = risk_coverage(data["results"])
        if curve:
            lines += ["", "## Risk and coverage", "",
                      "The answers kept from the least doubt up (rag.refusal's fitted probability that the articles do not answer): "
                      "the share kept, the accuracy of those kept, the doubt where the cut falls.", "",
                      "| kept | accuracy | doubt at the cut |", "|---|---|---|", *(f"| {c:.0%} | {a:.2f} | {d:.2f} |" for c, a, d in curve)]
    return "\n".join(lines) + "\n"


def _cores() -> int:
    import os

    return os.cpu_count() or 0


def plot(data: dict[str, Any], path: Path) -> None:
    """PNG: accuracy by category and language; latency distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = data["summary"]
    cats = sorted(k[4:] for k in s if k.startswith("cat:"))
    fig, (left, right, third) = plt.subplots(1, 3, figsize=(17, 4.5))
    width = 0.38
    for offset, lang in ((-width / 2, "ar"), (width / 2, "en")):
        values = []
        for cat in cats:
            rows = [r for r in data["results"] if r["category"] == cat and r["language"] == lang]
            values.append(sum(bool(r.get("correct")) for r in rows) / len(rows) if rows else 0)
        left.bar([i + offset for i in range(len(cats))], values, width, label=lang)
    left.set_xticks(range(len(cats)), cats, rotation=35, ha="right")
    left.set_ylim(0, 1.05)
    left.set_title("Correct (answers; refusals for unanswerable) by category")
    left.legend()
    for lang in ("ar", "en"):
        right.hist([r["total_ms"] / 1000 for r in data["results"] if r["language"] == lang], bins=15, alpha=0.6, label=f"{lang} total")
    right.hist([r["ttft_ms"] / 1000 for r in data["results"]], bins=15, alpha=0.4, label="first token (all)")
    right.set_xlabel("seconds")
    right.set_title("Latency")
    right.legend()
    for lang in ("ar", "en"):
        curve = risk_coverage([r for r in data["results"] if r["language"] == lang], tuple(k / 20 for k in range(20, 0, -1)))
        if curve:
            third.plot([c for c, _, _ in curve], [1 - a for _, a, _ in curve], marker=".", label=lang)
    third.set_xlabel("coverage (answers kept, least doubt first)")
    third.set_ylabel("risk (wrong among kept)")
    third.set_ylim(0, 1.05)
    third.set_title("Risk and coverage")
    if third.get_legend_handles_labels()[0]:
        third.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


SETS = {"dev": REPO_ROOT / "eval" / "dev.jsonl", "test": REPO_ROOT / "eval" / "test.jsonl"}
WORK = user_cache() / "rag"  # outside sets' corpora and indexes, kept between runs


def question_set(name: str, base: Settings, work: Path | None = None, embedder: Any = None, size: int | None = None) -> tuple[Settings, list[Question]]:
    """A named set's questions and the settings that answer them: the seed index for dev and test,
    an index of its own (built or brought up to date here) for an outside set (its usual sample, or
    `size` questions, 0 for all)."""
    from . import benchmarks

    if name in SETS:
        return base, load_questions(SETS[name])
    if name not in benchmarks.OUTSIDE:
        raise ValueError(f"unknown question set {name!r}; known: {', '.join([*SETS, *benchmarks.OUTSIDE])}")
    from . import index as index_mod
    from .embedding import load_embedder

    corpus, questions = benchmarks.prepare(name, work or WORK, size)
    settings = base.replace(corpus_dir=corpus, index_dir=corpus.parent / "index", index_backend="faiss")
    index_mod.build(settings.corpus_dir, settings.index_dir, embedder or load_embedder(settings), settings.embedding_model, settings.chunk_tokens, settings.chunk_overlap)
    return settings, load_questions(questions)
TOTALS = ("all", "lang:ar", "lang:en", "lang:ar:cat:follow-up", "lang:en:cat:follow-up", "lang:ar:cat:unanswerable", "lang:en:cat:unanswerable")
SIDE_BY_SIDE = ("accuracy", "f1", "exact_match", "quote_precision", "evidence_in_prompt", "citation_precision", "refusal_rate", "false_refusal_rate", "selective_accuracy", "faithfulness",
                "quote_p50_ms", "ttft_p50_ms", "total_p50_ms", "prompt_tokens_p50")


def totals(summary: dict[str, Any]) -> dict[str, Any]:
    """The groups of a summary that say nothing of single questions: overall, by language, follow-ups
    and unanswerable questions by language (what the frozen test set may show)."""
    return {g: summary[g] for g in TOTALS if g in summary}


def side_by_side(summaries: dict[str, dict[str, Any]], settings: Settings, seconds: float) -> str:
    """eval/report.md: each set's totals by language, one column per set and language."""
    columns = [(name, lang) for name in summaries for lang in ("ar", "en") if f"lang:{lang}" in summaries[name]]
    lines = [
        "# Evaluation: the question sets side by side", "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, {_cores()} cores; "
        f"embedding {settings.embedding_model}, generator {settings.generator_model}; {seconds / 60:.1f} min (`rag eval`).", "",
        "dev: the set changes are chosen on (per-question report in dev/report.md). test: frozen, read only as these totals. "
        "arcd, xquad, xquad_en, arcd_en: outside sets (docs/evaluation.md), each with its report in its folder.", "",
        "| measure | " + " | ".join(f"{name} {lang}" for name, lang in columns) + " |", "|---" * (len(columns) + 1) + "|",
        "| questions | " + " | ".join(_fmt(summaries[n].get(f"lang:{lang}", {}).get("n")) for n, lang in columns) + " |",
    ]
    for metric in SIDE_BY_SIDE:
        lines.append(f"| {metric} | " + " | ".join(_fmt(summaries[n].get(f"lang:{lang}", {}).get(metric)) for n, lang in columns) + " |")
    lines.append("| follow-up accuracy | " + " | ".join(_fmt(summaries[n].get(f"lang:{lang}:cat:follow-up", {}).get("accuracy")) for n, lang in columns) + " |")
    lines.append("| dense R@5 | " + " | ".join(_fmt(summaries[n].get(f"lang:{lang}", {}).get("dense", {}).get("r@5")) for n, lang in columns) + " |")
    return "\n".join(lines) + "\n"


def main(settings: Settings, args: argparse.Namespace) -> int:
    """`rag eval`: dev and test side by side (test as totals only); or one question set (--questions)
    with its full report."""
    if args.questions:
        return _one_set(settings, args, Path(args.questions), Path(args.out) if args.out else REPO_ROOT / "eval" / "custom")
    out = Path(args.out) if args.out else REPO_ROOT / "eval"
    started = time.time()
    summaries = {}
    generator = _generator(settings, args)
    for name in Settings.split(args.sets):
        set_settings, questions = question_set(name, settings)
        if getattr(args, "limit", 0):
            from .benchmarks import sample

            questions = sample(questions, args.limit)  # evenly spread, as eval/ablation.py --limit
        data = run(set_settings, questions, args.retrieval_only, generator=generator)
        summaries[name] = totals(data["summary"]) if name == "test" else data["summary"]
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        suffix = "-retrieval" if args.retrieval_only else ""
        if name != "test":
            (folder / f"results{suffix}.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
            (folder / f"report{suffix}.md").write_text(report_markdown(data, settings, args.retrieval_only, time.time() - started), encoding="utf-8")
            if not args.retrieval_only:
                plot(data, folder / "report.png")
        else:  # frozen: totals only, no per-question results on disk
            (folder / f"totals{suffix}.json").write_text(json.dumps(summaries[name], ensure_ascii=False, indent=1), encoding="utf-8")
    if not args.retrieval_only:
        (out / "report.md").write_text(side_by_side(summaries, settings, time.time() - started), encoding="utf-8")
    print(json.dumps({name: totals(summary) for name, summary in summaries.items()}, indent=1))
    return 0


def _generator(settings: Settings, args: argparse.Namespace) -> Any:
    """The settings' generator, its generations kept in --generations when given (else None: run loads it)."""
    if args.retrieval_only or not getattr(args, "generations", None):
        return None
    from .generation import load_generator

    return KeptGenerations(load_generator(settings), Path(args.generations), settings)


def _one_set(settings: Settings, args: argparse.Namespace, path: Path, out: Path) -> int:
    """A question set of the user's (or ARCD's): full report, results and plot in out."""
    questions = load_questions(path)
    if args.ids:
        wanted = set(args.ids.split(","))
        questions = [q for q in questions if q.id in wanted]
    if args.limit:
        questions = questions[: args.limit]
    started = time.time()
    data = run(settings, questions, args.retrieval_only, generator=_generator(settings, args))
    seconds = time.time() - started
    out.mkdir(parents=True, exist_ok=True)
    suffix = "-retrieval" if args.retrieval_only else ""
    (out / f"results{suffix}.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    (out / f"report{suffix}.md").write_text(report_markdown(data, settings, args.retrieval_only, seconds), encoding="utf-8")
    if not args.retrieval_only:
        plot(data, out / "report.png")
    print(json.dumps({k: v for k, v in data["summary"].items() if not k.startswith("cat:")}, indent=1))
    return 0
