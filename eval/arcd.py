"""The assistant on ARCD, an outside Arabic QA benchmark it was not built on.

    .venv/bin/python eval/arcd.py [--sample 100] [--work DIR] [--out eval/arcd]
    .venv/bin/python eval/arcd.py --english     # eval/arcd_en.jsonl, report in eval/arcd_en

ARCD (Mozannar et al., WANLP 2019; ../shared/benchmarks/arcd/) holds 702
crowd-written questions over 234 paragraphs of 78 Arabic Wikipedia articles.
Each article becomes one corpus file (its title, then its paragraphs), the
whole set is indexed like the news articles, and every 7th question (for
--sample 100) is asked through the same pipeline as `rag eval`: same
settings, prompt, citations and refusal. Every question is answerable.

Figures: retrieval (gold article in the top k), "contains" (a gold span
occurs in the answer after Arabic normalization, the `rag eval` accuracy
rule), token F1 against the closest gold span (the SQuAD measure; a sentence
answer scores below a bare span), false refusals, citations whose passage
holds a gold span, latency and prompt size. Writes report.md and
results.json to --out; the index is kept in --work for the next run.

With --english, the questions are eval/arcd_en.jsonl: 45 of the sampled
ARCD questions put into English, each with the English answers that count
(names as English writes them, numbers, dates); the gold spans stay the
evidence. The figures are the same, except token F1, which an English answer
against an Arabic span cannot have.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import evaluation  # noqa: E402
from rag.citations import strip_markers  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.text import normalize  # noqa: E402

DEFAULT_SOURCE = ROOT.parent / "shared" / "benchmarks" / "arcd" / "arcd-test.json"
ENGLISH = ROOT / "eval" / "arcd_en.jsonl"  # ARCD questions put into English, with English answers
_SPAN_EDGES = " \t\n.,،؛;:()\"'«»“”"  # gold spans often carry the punctuation around them: "(15 يناير 1918", "في عام 1995،"


def prepare(source: Path, work: Path, sample: int) -> Path:
    """Corpus files under work/corpus and the sampled questions as work/questions.jsonl (rag eval's format)."""
    data = json.loads(source.read_text(encoding="utf-8"))["data"]
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    questions = []
    for number, article in enumerate(data):
        doc_id = f"arcd_{number:03d}"
        paragraphs = [p["context"].strip() for p in article["paragraphs"]]
        # the title line under the article's name, as a page would show it (a one-word line would be read as chrome)
        (corpus / f"{doc_id}.txt").write_text("\n".join([f"{article['title']} - ويكيبيديا", *paragraphs]) + "\n", encoding="utf-8")
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                spans = list(dict.fromkeys(span for a in qa["answers"] if (span := a["text"].strip(_SPAN_EDGES))))
                questions.append({"id": f"arcd-{qa['id']}", "language": "ar", "category": "arcd", "question": qa["question"].strip(),
                                  "answerable": True, "answers": [spans], "doc_ids": [doc_id], "evidence": spans})
    step = max(1, len(questions) // sample) if sample else 1
    chosen = questions[::step][: sample or None]  # every step-th question: 0, 7, 14, … for 100 of 702; all for 0
    path = work / "questions.jsonl"
    path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in chosen), encoding="utf-8")
    return path


def tokens(text: str) -> list[str]:
    """Normalized word tokens (markers and punctuation dropped)."""
    return re.findall(r"\w+", normalize(strip_markers(text)))


def token_f1(answer: str, gold: list[str]) -> float:
    """SQuAD token F1 of answer against its closest gold span."""
    a = tokens(answer)
    best = 0.0
    for span in gold:
        g = tokens(span)
        common = sum((Counter(a) & Counter(g)).values())
        if common:
            precision, recall = common / len(a), common / len(g)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="arcd-test.json")
    parser.add_argument("--sample", type=int, default=100, help="questions asked, evenly spread (0: all 702)")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "rag" / "arcd", help="corpus and index folder, kept between runs")
    parser.add_argument("--out", type=Path, default=None, help="report folder (default eval/arcd, or eval/arcd_en with --english)")
    parser.add_argument("--english", action="store_true", help=f"ask the English questions of {ENGLISH.relative_to(ROOT)} instead of a sample")
    args = parser.parse_args(argv)
    args.out = args.out or ROOT / "eval" / ("arcd_en" if args.english else "arcd")

    from rag import index as index_mod
    from rag.embedding import load_embedder

    questions_path = prepare(args.source, args.work, args.sample)
    settings = Settings.load({"corpus_dir": args.work / "corpus", "index_dir": args.work / "index"})
    report = index_mod.build(settings.corpus_dir, settings.index_dir, load_embedder(settings), settings.embedding_model, settings.chunk_tokens, settings.chunk_overlap)
    print(f"index: {report.documents} articles, {report.chunks} chunks ({report.embedded} texts embedded)", file=sys.stderr)
    questions = evaluation.load_questions(ENGLISH if args.english else questions_path)
    started = time.time()
    data = evaluation.run(settings, questions, retrieval_only=False)
    minutes = (time.time() - started) / 60
    for r, q in zip(data["results"], questions, strict=True):
        # gold spans are Arabic: token F1 says nothing of an English answer
        r["f1"] = 0.0 if r["refused"] or args.english else round(token_f1(r["answer"], q.answers[0]), 3)
    s = data["summary"]["all"]
    f1 = sum(r["f1"] for r in data["results"]) / len(data["results"])
    asked = (f"the {len(questions)} English questions of {ENGLISH.relative_to(ROOT)}" if args.english
             else f"{len(questions)} of the 702 questions (every {702 // len(questions)}th)")
    command = "--english" if args.english else f"--sample {args.sample}"
    lines = [
        "# ARCD" + (", asked in English" if args.english else ""), "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {asked}, "
        f"{report.documents} articles in {report.chunks} chunks; embedding {settings.embedding_model}, generator {settings.generator_model}; {minutes:.1f} min.",
        f"Command: `.venv/bin/python eval/arcd.py {command}`.", "",
        "| measure | value |", "|---|---|",
        f"| gold article retrieved, R@1 / R@5 (dense) | {s['dense']['r@1']:.2f} / {s['dense']['r@5']:.2f} |",
        f"| answer contains a gold span | {s['accuracy']:.3f} |" if not args.english else f"| answer contains the English answer | {s['accuracy']:.3f} |",
        *([] if args.english else [f"| token F1 against the closest gold span | {f1:.3f} |"]),
        f"| false refusals | {s['false_refusal_rate']:.3f} |",
        f"| citations whose passage holds a gold span | {evaluation._fmt(s['citation_precision'])} |",
        f"| citations verified against their passage | {evaluation._fmt(s['faithfulness'])} |",
        f"| first token p50 / total p50 | {s['ttft_p50_ms'] / 1000:.1f} s / {s['total_p50_ms'] / 1000:.1f} s |",
        f"| median prompt tokens | {s['prompt_tokens_p50']} |",
        "", "| question | gold | answer | contains |" + ("" if args.english else " F1 |"), "|---|---|---|---|" + ("" if args.english else "---|"),
    ]
    for r, q in zip(data["results"], questions, strict=True):
        gold = " + ".join(" / ".join(group) for group in q.answers) if args.english else " / ".join(q.answers[0])
        cell = [q.question, gold, r["answer"], "yes" if r["correct"] else "no", f"{r['f1']:.2f}"][: 4 if args.english else 5]
        lines.append("| " + " | ".join(c.replace("|", "/").replace("\n", " ") for c in cell) + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.out / "results.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    print("\n".join(lines[:14]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
