"""Benchmarks: the assistant against the raw engines it is built on, measured
in one run on this machine, so each figure is a ratio that machine noise
mostly cancels out of. Prints the figures and writes bench/results.md.

    .venv/bin/python bench/run.py [--quick]

1. generation tokens/s: the assistant's stream versus a raw llama-cpp-python
   loop on the same model, threads and prompt
2. time to first token versus the raw prompt evaluation of the same prompt;
   a second question in a session versus the first (prefix reuse); an
   Arabic question after an English one, its system message's saved state
   restored versus read again; the first question after start, with the
   warm-up the server runs as it starts versus without
3. retrieval latency versus raw encode_query + FAISS search
4. indexing throughput versus raw encode_document of the same texts
5. (search at scale: bench/scale.py)
6. peak RSS with both default models loaded versus their file sizes
7. median prompt tokens over the eval questions
8. preparing an English question (evidence, name spellings, focus sentence)
   in a session, its names and clauses kept from earlier questions, versus
   each question on its own; and after the start-up warm-up that embeds the
   articles' clauses and names ahead, versus on its own
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rag import hostcheck, models  # noqa: E402
from rag import index as index_mod  # noqa: E402
from rag.answering import Answer, Assistant, Token  # noqa: E402
from rag.embedding import LlamaEmbedder, load_embedder  # noqa: E402
from rag.evaluation import load_questions  # noqa: E402
from rag.generation import LlamaCppGenerator  # noqa: E402
from rag.settings import Settings  # noqa: E402

QUESTIONS = ["Who did Sullivan talk to?", "مع من تحدث سوليفان؟", "Where did the CIA director meet his Russian counterpart?", "ماذا طلب أوستن من شويغو؟"]


def median_time(fn, repeat: int) -> float:
    """Median seconds of fn() over repeat calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()}, {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Linux {platform.release()}, Python {platform.python_version()}"


# 1 and 2 -----------------------------------------------------------------------


class Recording:
    """A generator wrapper that keeps the last prompt the assistant sent."""

    def __init__(self, inner: LlamaCppGenerator) -> None:
        self.inner = inner
        self.name, self.n_ctx, self.lock = inner.name, inner.n_ctx, inner.lock
        self.messages: list = []

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def prompt_tokens(self, messages) -> int:
        return self.inner.prompt_tokens(messages)

    def stream(self, messages, max_tokens, grammar=None):
        self.messages = messages
        return self.inner.stream(messages, max_tokens, grammar)


def assistant_run(assistant: Assistant, question: str, history=None) -> dict:
    """Timestamps of one answer: start, first token, last token, and token counts.

    When the model declines, its marker is not streamed: the refusal is the first
    thing the user sees, when the answer arrives. A refusal without the model
    (below the relevance threshold) times nothing worth reporting."""
    start = time.perf_counter()
    first = last = None
    answer = None
    for event in assistant.stream(question, history):
        now = time.perf_counter()
        if isinstance(event, Token):
            first = first or now
            last = now
        elif isinstance(event, Answer):
            answer = event
            first = first or now
            last = last or now
    assert answer is not None and answer.timings.prompt_tokens > 0, f"benchmark question answered without the model: {question}"
    return {"ttft": first - start, "decode_s": last - first, "completion": answer.timings.completion_tokens, "prompt": answer.timings.prompt_tokens,
            "retrieve_s": answer.timings.retrieve_ms / 1000, "refused": answer.refused}


def raw_run(llm, prompt_tokens: list[int], n: int) -> dict:
    """A raw llama-cpp-python loop: evaluate the prompt, then n greedy tokens."""
    llm.reset()
    start = time.perf_counter()
    first = last = None
    count = 0
    for _token in llm.generate(prompt_tokens, top_k=1, top_p=1.0, temp=0.0, reset=True):
        now = time.perf_counter()
        first = first or now
        last = now
        count += 1
        if count >= n:
            break
    return {"ttft": first - start, "decode_s": last - first, "completion": count}


def _rate(run: dict) -> str:
    """Tokens/s after the first, or "–" for an answer of one token (a phrase found without decoding more)."""
    return f"{(run['completion'] - 1) / run['decode_s']:.1f}" if run["decode_s"] > 0 else "–"


def bench_generation(settings: Settings, assistant: Assistant, quick: bool) -> dict:
    gen = assistant.generator
    assert isinstance(gen, Recording)
    path = models.ensure(settings, settings.generator_model) / models.spec(settings.generator_model).main_file
    raw = hostcheck.load_llama(path, gen.inner.extra_buffers, n_ctx=settings.n_ctx, n_threads=settings.n_threads, n_threads_batch=settings.n_threads, n_batch=512,
                               seed=settings.seed, verbose=False)
    rows = []
    for question in QUESTIONS[: 2 if quick else 4]:
        gen.inner.forget()  # cold: no prefix reuse for this comparison
        ours = assistant_run(assistant, question)
        assert not ours["refused"], f"generation speed needs an answer, and the model declined: {question}"
        tokens = gen.inner._tokenize(gen.inner.render(gen.messages))
        theirs = raw_run(raw, tokens, ours["completion"])
        rows.append((question, ours, theirs))
    ours_rate = sum(o["completion"] - 1 for _, o, _ in rows) / (sum(o["decode_s"] for _, o, _ in rows) or float("nan"))
    raw_rate = sum(t["completion"] - 1 for _, _, t in rows) / (sum(t["decode_s"] for _, _, t in rows) or float("nan"))
    ttft_ratio = statistics.median(o["ttft"] / t["ttft"] for _, o, t in rows)
    ttft_ratio_model = statistics.median((o["ttft"] - o["retrieve_s"]) / t["ttft"] for _, o, t in rows)
    del raw

    # a session: a first question on a cold cache, then a second one
    sessions = []
    for first_q, second_q in (("Who did Sullivan talk to?", "Which newspaper reported it?"), ("مع من تحدث سوليفان؟", "ما الصحيفة التي نشرت ذلك؟")):
        gen.inner.forget()
        a = assistant_run(assistant, first_q)
        b = assistant_run(assistant, second_q, [{"role": "user", "content": first_q}, {"role": "assistant", "content": "…"}])
        sessions.append((first_q, second_q, a, b))
    gain = statistics.median(1 - b["ttft"] / a["ttft"] for *_, a, b in sessions)

    # a change of language: an Arabic question right after an English one, its
    # system message's saved state restored, versus read again (no saved state)
    switches = []
    for _ in range(1 if quick else 3):
        timed = {}
        for restored in (True, False):
            gen.inner.forget()
            assistant_run(assistant, QUESTIONS[1])  # reads and saves the Arabic system message
            assistant_run(assistant, QUESTIONS[0])
            if not restored:
                gen.inner.forget()
            timed[restored] = assistant_run(assistant, QUESTIONS[3])["ttft"]
        switches.append((timed[True], timed[False]))
    switch_gain = statistics.median(1 - r / n for r, n in switches)

    # the first question of each language after start, with the warm-up the server runs as it starts versus
    # without (the embedding model is warm in both: this is the generator's part)
    firsts = []
    for _ in range(1 if quick else 2):
        for question in QUESTIONS[:2]:
            timed = {}
            for warmed in (False, True):
                gen.inner.forget()
                if warmed:
                    assistant.warm()
                timed[warmed] = assistant_run(assistant, question)["ttft"]
            firsts.append((timed[True], timed[False]))
    warm_gain = statistics.median(1 - w / c for w, c in firsts)
    return {
        "rows": rows, "ours_rate": ours_rate, "raw_rate": raw_rate, "rate_ratio": ours_rate / raw_rate,
        "ttft_ratio": ttft_ratio, "ttft_ratio_model": ttft_ratio_model, "sessions": sessions, "second_gain": gain,
        "switches": switches, "switch_gain": switch_gain, "firsts": firsts, "warm_gain": warm_gain,
    }


# 3 and 4 -----------------------------------------------------------------------


def raw_embedding(embedder: object) -> tuple[Callable[[str], object], Callable[[list[str]], object]]:
    """The engine under the embedder, called directly: (one query, many documents)."""
    if isinstance(embedder, LlamaEmbedder):
        llm = embedder._llm  # llama.cpp with the GGUF
        return (lambda q: llm.embed([embedder._query + q], normalize=True),
                lambda texts: [llm.embed([embedder._document + t for t in texts[i : i + 8]], normalize=True) for i in range(0, len(texts), 8)])
    st = embedder._model  # type: ignore[attr-defined]  # the sentence-transformers model
    return (lambda q: st.encode_query([q], normalize_embeddings=True, convert_to_numpy=True),
            lambda texts: st.encode_document(texts, batch_size=8, normalize_embeddings=True, convert_to_numpy=True))


def bench_retrieval(assistant: Assistant, quick: bool) -> dict:
    query, _ = raw_embedding(assistant.embedder)
    faiss_index = assistant.index.faiss_index
    k = assistant.settings.top_k
    repeat = 5 if quick else 15

    def ours() -> None:
        for q in QUESTIONS:
            assistant.retriever.search(q, k)

    def raw() -> None:
        for q in QUESTIONS:
            v = query(q)
            faiss_index.search(np.asarray(v, dtype=np.float32).reshape(1, -1), k)

    t_ours, t_raw = median_time(ours, repeat) / len(QUESTIONS), median_time(raw, repeat) / len(QUESTIONS)
    return {"ours_ms": t_ours * 1000, "raw_ms": t_raw * 1000, "ratio": t_ours / t_raw}


def bench_indexing(settings: Settings, assistant: Assistant) -> dict:
    embedder = assistant.embedder
    _, documents = raw_embedding(embedder)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        report = index_mod.build(settings.corpus_dir, Path(tmp) / "index", embedder, settings.embedding_model, settings.chunk_tokens, settings.chunk_overlap)
        ours = time.perf_counter() - t
        built = index_mod.load(report.path.parent)
        texts = [c.text for c in built.chunks] + [s for c in built.chunks for s in c.sentence_texts()]
        texts = list(dict.fromkeys(texts))
    t = time.perf_counter()
    documents(texts)
    raw = time.perf_counter() - t
    return {"texts": len(texts), "articles": report.documents, "ours_s": ours, "raw_s": raw, "ratio": (len(texts) / ours) / (len(texts) / raw)}


# 6 -----------------------------------------------------------------------------


def rss_probe() -> None:
    """Run in a child process: load both default models, answer once, print peak RSS."""
    settings = Settings.load()
    from rag.answering import load_assistant

    assistant = load_assistant(settings)
    assistant.ask("Who did Sullivan talk to?")
    # VmHWM, not getrusage's ru_maxrss: a child's ru_maxrss starts from its parent's peak at fork
    peak = next(int(line.split()[1]) * 1024 for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
    print(json.dumps({"peak_rss": peak}))


def bench_memory(settings: Settings) -> dict:
    out = subprocess.run([sys.executable, __file__, "--rss-probe"], capture_output=True, text=True, check=True, cwd=ROOT)
    peak = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss"]
    files = 0
    for name in (models.embedding_models(settings)[-1], settings.generator_model):  # the weights the assistant loads
        folder = models.ensure(settings, name)
        files += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and f.suffix in (".gguf", ".safetensors"))
    return {"peak_rss": peak, "model_bytes": files, "ratio": peak / files}


# 7 -----------------------------------------------------------------------------


def bench_prompts(assistant: Assistant) -> dict:
    questions = load_questions(ROOT / "eval" / "dev.jsonl")
    sizes = []
    for q in questions:
        prepared = assistant.prepare(q.question, q.history)
        if prepared.passages and prepared.passages[0].score >= assistant.settings.refusal_threshold:
            sizes.append(assistant.generator.prompt_tokens(prepared.messages))
    return {"questions": len(sizes), "median": statistics.median(sizes), "p90": float(np.percentile(sizes, 90)), "max": max(sizes)}


def bench_preparation(assistant: Assistant) -> dict:
    questions = [q for q in load_questions(ROOT / "eval" / "dev.jsonl") if q.language == "en"]

    def prepare(q, fresh: bool) -> float:
        if fresh:
            assistant.english.vectors.clear()
        started = time.perf_counter()
        assistant.prepare(q.question, q.history)
        return time.perf_counter() - started

    alone = [prepare(q, True) for q in questions]
    assistant.english.vectors.clear()
    session = [prepare(q, False) for q in questions]
    # after the warm-up the server runs as it starts: each question as if it came first
    assistant.english.vectors.clear()
    started = time.perf_counter()
    kept = assistant.warm_texts()
    warm_s = time.perf_counter() - started
    warmed = [prepare(q, False) for q in questions]
    return {
        "questions": len(questions), "alone": statistics.median(alone), "session": statistics.median(session), "ratio": statistics.median(session) / statistics.median(alone),
        "warmed": statistics.median(warmed), "warmed_ratio": statistics.median(warmed) / statistics.median(alone), "warm_texts": kept, "warm_s": warm_s,
    }


# Report --------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--rss-probe", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    args = parser.parse_args()
    if args.rss_probe:
        rss_probe()
        return
    settings = Settings.load()
    started = time.time()
    idx = index_mod.load(settings.index_dir)
    embedder = load_embedder(settings, idx.manifest["embedding_model"])
    path = models.ensure(settings, settings.generator_model) / models.spec(settings.generator_model).main_file
    verdict = hostcheck.decide(settings.llama_extra_buffers, path, settings.model_dir)
    print(verdict.line(), flush=True)
    gen = Recording(LlamaCppGenerator(path, settings.generator_model, extra_buffers=verdict.extra_buffers, n_ctx=settings.n_ctx, threads=settings.n_threads,
                                      seed=settings.seed, temperature=settings.temperature))
    assistant = Assistant(settings, idx, embedder, gen)
    from rag import names

    names.warm()

    print("8. English question preparation…", flush=True)
    preparation = bench_preparation(assistant)
    print("7. prompt sizes…", flush=True)
    prompts = bench_prompts(assistant)
    print("3. retrieval…", flush=True)
    retrieval = bench_retrieval(assistant, args.quick)
    print("4. indexing…", flush=True)
    indexing = bench_indexing(settings, assistant)
    print("1–2. generation…", flush=True)
    generation = bench_generation(settings, assistant, args.quick)
    print("6. memory…", flush=True)
    memory = bench_memory(settings)

    g = generation
    lines = [
        "# Benchmarks",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}.",
        f"Generator {settings.generator_model} ({settings.n_threads} threads, n_ctx {settings.n_ctx}); embedding {settings.embedding_model}; "
        f"index of {idx.manifest['counts']['documents']} articles, {idx.manifest['counts']['chunks']} chunks. "
        f"Every ratio compares two measurements taken in this one run (`.venv/bin/python bench/run.py{' --quick' if args.quick else ''}`, {(time.time() - started) / 60:.1f} min).",
        "",
        "| # | measure | assistant | raw engine | ratio | bar |",
        "|---|---|---|---|---|---|",
        f"| 1 | generation tokens/s | {g['ours_rate']:.1f} | {g['raw_rate']:.1f} (llama-cpp-python loop, same prompt) | {g['rate_ratio']:.2f} | ≥ 0.95 |",
        f"| 2a | time to first token (question → first token, includes retrieval) | {statistics.median(o['ttft'] for _, o, _ in g['rows']):.2f} s | {statistics.median(t['ttft'] for *_, t in g['rows']):.2f} s (prompt evaluation + first token) | {g['ttft_ratio']:.2f} | ≤ 1.10 |",
        f"| 2a′ | the same, model part only (retrieval time taken out) | | | {g['ttft_ratio_model']:.2f} | |",
        f"| 2b | second question of a session, faster to first token than the first | | | {g['second_gain']:.0%} faster | ≥ 30% |",
        f"| 2c | question after one in the other language: system message restored vs read again (first token) | {statistics.median(r for r, _ in g['switches']):.2f} s | {statistics.median(n for _, n in g['switches']):.2f} s | {g['switch_gain']:.0%} faster | reported |",
        f"| 2d | first question after start (one per language): the server's warm-up done vs not (first token) | {statistics.median(w for w, _ in g['firsts']):.2f} s | {statistics.median(c for _, c in g['firsts']):.2f} s | {g['warm_gain']:.0%} faster | reported |",
        f"| 3 | retrieval latency per question | {retrieval['ours_ms']:.1f} ms | {retrieval['raw_ms']:.1f} ms (encode_query + FAISS search) | {retrieval['ratio']:.2f} | ≤ 1.2 |",
        f"| 4 | indexing throughput ({indexing['texts']} texts of {indexing['articles']} articles) | {indexing['texts'] / indexing['ours_s']:.1f} texts/s | {indexing['texts'] / indexing['raw_s']:.1f} texts/s (encode_document) | {indexing['ratio']:.2f} | ≥ 0.9 |",
        f"| 6 | peak RSS, both models loaded, one answer | {memory['peak_rss'] / 2**30:.2f} GiB | {memory['model_bytes'] / 2**30:.2f} GiB (the weights loaded) | {memory['ratio']:.2f} | reported |",
        f"| 7 | median prompt tokens over {prompts['questions']} eval questions (p90 {prompts['p90']:.0f}, max {prompts['max']}) | {prompts['median']:.0f} | | | ≤ 700 |",
        f"| 8 | preparing an English question, in a session vs each on its own (median of {preparation['questions']}) | {preparation['session'] * 1000:.0f} ms | {preparation['alone'] * 1000:.0f} ms | {preparation['ratio']:.2f} | reported |",
        f"| 8b | preparing an English question, after the start-up text warm-up ({preparation['warm_texts']} texts, {preparation['warm_s']:.0f} s between questions) vs each on its own | {preparation['warmed'] * 1000:.0f} ms | {preparation['alone'] * 1000:.0f} ms | {preparation['warmed_ratio']:.2f} | reported |",
        "",
        "## Details",
        "",
        "Generation, one question each on a cold cache (no prefix reuse):",
        "",
        "| question | prompt tokens | answer tokens | assistant first token | raw first token | assistant tokens/s | raw tokens/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for q, o, t in g["rows"]:
        lines.append(f"| {q} | {o['prompt']} | {o['completion']} | {o['ttft']:.2f} s | {t['ttft']:.2f} s | {_rate(o)} | {_rate(t)} |")
    lines += ["", "Sessions (second question asked with the first as history):", "", "| first | second | first: first token | second: first token | prompt tokens |", "|---|---|---|---|---|"]
    for q1, q2, a, b in g["sessions"]:
        declined = " (the model declined)" if b["refused"] else ""
        lines.append(f"| {q1} | {q2}{declined} | {a['ttft']:.2f} s | {b['ttft']:.2f} s | {a['prompt']} / {b['prompt']} |")
    from sections import update

    update(args.out, "main", "bench/run.py", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
