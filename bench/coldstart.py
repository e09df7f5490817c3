"""Cold start of the command line: where the wall time of `rag ask` goes, and
`rag ask` through a running server.

    .venv/bin/python bench/coldstart.py [--runs 3]

1. `rag ask --local --json QUESTION` as a new process, as a user runs it:
   its wall time against the answer's own time to first token (the gap is
   start-up: imports, loading both models, reading the system message);
   with the embedding model run by llama.cpp (the default) and by
   sentence-transformers (`embedding_backend`), one after the other.
2. That start-up in phases, each timed in a fresh child process in order:
   interpreter and `rag.cli`; llama_cpp; the index; the embedding model;
   the GGUF (as `rag ask` loads them), or
   both with the English word lists warming in the background (as `rag chat`
   and `rag serve` do); the answer to its first token (the system message
   read, then the answer).
3. With `rag serve` on a free port of 127.0.0.1: `rag ask QUESTION` (through
   the server) wall time against the answer's total time the server reports.

Figures are medians over the runs, measured in one run of this script on
this machine; compare them with each other, not with another machine's.
Writes its section of bench/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "ماذا طلب أوستن من شويغو؟"
BACKENDS = ("llama", "sentence-transformers")  # the default first

# Runs in a child process: each phase of a cold `rag ask`, in order, as JSON on the last line.
PHASES = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import rag.cli
mark("interpreter and rag.cli")
import llama_cpp
mark("llama_cpp")
from rag.settings import Settings
from rag import index as index_mod
settings = Settings.load()
ix = index_mod.open_index(settings)
mark("the index")
mode = sys.argv[1]
from rag.answering import Assistant, load_assistant
if mode == "chat":
    assistant = load_assistant(settings, warm_names=True)
    mark("both models, the word lists warming beside them")
else:
    from rag.embedding import load_embedder
    from rag.generation import load_generator
    embedder = load_embedder(settings, ix.manifest["embedding_model"])
    mark("the embedding model")
    generator = load_generator(settings)
    mark("the GGUF")
    assistant = Assistant(settings, ix, embedder, generator)
started = time.perf_counter()
answer = assistant.ask(sys.argv[2])
marks.append(("the answer's first token", started + answer.timings.ttft_ms / 1000))
marks.append(("the answer's end", started + answer.timings.total_ms / 1000))
print(json.dumps({"marks": [(n, t - marks[0][1]) for n, t in marks], "ttft_ms": answer.timings.ttft_ms, "total_ms": answer.timings.total_ms}))
"""


def _rag(*args: str, env: dict[str, str] | None = None) -> tuple[float, dict]:
    """Wall seconds of a `rag` command (JSON output) and its output."""
    started = time.perf_counter()
    out = subprocess.run([str(ROOT / ".venv" / "bin" / "rag"), *args], capture_output=True, text=True, cwd=ROOT, env={**os.environ, **(env or {})}, check=True)
    return time.perf_counter() - started, json.loads(out.stdout)


def _phases(mode: str) -> dict:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PHASES, mode, QUESTION], capture_output=True, text=True, cwd=ROOT, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    data["wall"] = time.perf_counter() - started
    return data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    median = statistics.median

    cold = {}
    for backend in BACKENDS:
        local = [_rag("ask", "--local", "--json", QUESTION, env={"RAG_EMBEDDING_BACKEND": backend}) for _ in range(args.runs)]
        cold[backend] = (median(w for w, _ in local), median(d["timings"]["ttft_ms"] / 1000 for _, d in local))
        wall, ttft = cold[backend]
        print(f"rag ask --local, embedding by {backend}: wall {wall:.1f} s, the answer's first token {ttft:.1f} s after its start, start-up {wall - ttft:.1f} s", flush=True)

    phases = {mode: [_phases(mode) for _ in range(args.runs)] for mode in ("ask", "chat")}
    rows = []
    for mode, runs in phases.items():
        names = [n for n, _ in runs[0]["marks"]]
        ends = {n: median(dict(r["marks"])[n] for r in runs) for n in names}
        previous = 0.0
        for n in names[1:]:
            rows.append((mode, n, ends[n] - previous, ends[n]))
            previous = ends[n]
        print(f"{mode}: " + "; ".join(f"{n} +{d:.1f} s" for m, n, d, _ in rows if m == mode), flush=True)

    port = _free_port()
    env = {"RAG_PORT": str(port), "RAG_HOST": "127.0.0.1"}
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "rag"), "serve"], cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                    if json.loads(r.read())["generator"]["warming_up"] is False:
                        break
            except (OSError, ValueError, KeyError):
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("rag serve did not start")
            time.sleep(1)
        remote = [_rag("ask", "--json", QUESTION, env=env) for _ in range(args.runs)]
    finally:
        server.terminate()
        server.wait(30)
    remote_wall = median(w for w, _ in remote)
    remote_total = median(d["timings"]["total_ms"] / 1000 for _, d in remote)
    print(f"rag ask through the server: wall {remote_wall:.1f} s, the server's answer {remote_total:.1f} s, difference {remote_wall - remote_total:.1f} s", flush=True)

    sys.path.insert(0, str(ROOT / "bench"))
    from sections import update

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.machine())
    lines = [
        "## Cold start of `rag ask`", "",
        f"{time.strftime('%Y-%m-%d')}, {cpu}, {os.cpu_count()} cores; `.venv/bin/python bench/coldstart.py --runs {args.runs}`; medians; question «{QUESTION}».", "",
        "| | seconds |", "|---|---|",
        *(row for backend, (wall, ttft) in cold.items() for row in (
            f"| `rag ask --local`, embedding model run by {backend}: wall | {wall:.1f} |",
            f"| its answer's first token, from the answer's start | {ttft:.1f} |",
            f"| start-up (wall less first token) | {wall - ttft:.1f} |")),
        f"| `rag ask` through a running `rag serve`: wall | {remote_wall:.1f} |",
        f"| the server's answer, total | {remote_total:.1f} |", "",
        "Where a cold start goes (each phase's own time, then the time since the process began):", "",
        "| process | phase | s | since start |", "|---|---|---|---|",
        *(f"| {m} | {n} | {d:.1f} | {e:.1f} |" for m, n, d, e in rows),
    ]
    update(ROOT / "bench" / "results.md", "coldstart", "bench/coldstart.py", lines)


if __name__ == "__main__":
    main()
