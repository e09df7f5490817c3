"""Prompt evaluation with and without llama.cpp's extra weight buffers (AMX,
CPU repack), on this host, in one run; and what the host self-check chose.

    .venv/bin/python bench/extra_buffers.py [--repeats 3]

Each configuration runs in its own child process (a host where the extra
buffers crash kills the child, not this script, and that is reported). The
prompt is a 500-token Arabic one built from the seed articles, read in
batches of 512 as the assistant does; generation speed is measured on 32
greedy tokens after it. The figures replace the section between the markers
in bench/results.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from rag import hostcheck, models  # noqa: E402
from rag.settings import Settings  # noqa: E402

PROMPT_TOKENS = 500


def child(path: str, extra: bool, threads: int, repeats: int) -> None:
    """Time prompt evaluation and generation; print one JSON line."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt")))
    llm = hostcheck.load_llama(Path(path), extra, n_ctx=1024, n_threads=threads, n_threads_batch=threads, n_batch=512, verbose=False)
    tokens = llm.tokenize(text.encode(), add_bos=False)[:PROMPT_TOKENS]
    prompt, gen = [], []
    for _ in range(repeats):
        llm.reset()
        start = time.perf_counter()
        llm.eval(tokens)
        prompt.append(len(tokens) / (time.perf_counter() - start))
        start = time.perf_counter()
        for _ in range(32):
            llm.eval([llm.sample(top_k=1, temp=0.0)])
        gen.append(32 / (time.perf_counter() - start))
    print(json.dumps({"prompt_tps": statistics.median(prompt), "gen_tps": statistics.median(gen), "tokens": len(tokens)}))


def measure(path: Path, extra: bool, threads: int, repeats: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", str(path), "--extra", str(int(extra)), "--threads", str(threads), "--repeats", str(repeats)],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        return {"failed": f"exit status {done.returncode}" + (" (killed by a signal)" if done.returncode < 0 else "")}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--extra", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    args = parser.parse_args()
    if args.child:
        child(args.child, bool(args.extra), args.threads, args.repeats)
        return
    from run import machine
    from sections import update

    settings = Settings.load()
    path = models.ensure(settings, settings.generator_model) / models.spec(settings.generator_model).main_file
    verdict = hostcheck.decide("auto", path, settings.model_dir)
    print(verdict.line(), flush=True)
    rows = {extra: measure(path, extra, settings.n_threads, args.repeats) for extra in (True, False)}
    on, off = rows[True], rows[False]

    def cell(r: dict, key: str) -> str:
        return r["failed"] if "failed" in r else f"{r[key]:.1f}"

    ratio = f"{on['prompt_tps'] / off['prompt_tps']:.2f}" if "failed" not in on and "failed" not in off else "–"
    section = [
        "## llama.cpp extra buffers (AMX, CPU repack) on this host",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}; {settings.generator_model}, {settings.n_threads} threads; "
        f"a {PROMPT_TOKENS}-token Arabic prompt, median of {args.repeats} (`.venv/bin/python bench/extra_buffers.py`).",
        "",
        "| extra buffers | prompt tokens/s | generation tokens/s |",
        "|---|---|---|",
        f"| on | {cell(on, 'prompt_tps')} | {cell(on, 'gen_tps')} |",
        f"| off | {cell(off, 'prompt_tps')} | {cell(off, 'gen_tps')} |",
        f"| on / off | {ratio} | |",
        "",
        f"The host self-check chose: {verdict.line()}.",
    ]
    print("\n".join(section))
    update(args.out, "extra-buffers", "bench/extra_buffers.py", section)


if __name__ == "__main__":
    main()
