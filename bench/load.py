"""Load test on loopback: the scaled layout against one in-process replica,
measured in one run on this machine.

    .venv/bin/python bench/load.py [--users 16] [--per-user 3] [--parallel 2]

Scaled: one PostgreSQL with pgvector (tests/postgres.py) holding the index,
one llama.cpp `llama-server` with --parallel slots (scripts/llama-server.sh
builds it), and two `rag serve` replicas using both. Single: one `rag serve`
with the FAISS folder and the in-process GGUF, as the README's app command
runs it. Each run: `--users` concurrent users, each asking `--per-user`
different questions of the dev set over HTTP (/api/ask), one after another;
a user whose request fails (503 with Retry-After, a dropped connection)
retries it on the other replica, so nothing is lost silently. Then a
failover check: questions in flight when one replica is killed are retried
on the other. Writes the "load" section of bench/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from rag import hostcheck, models  # noqa: E402
from rag.evaluation import load_questions  # noqa: E402
from rag.settings import Settings, user_cache  # noqa: E402

LLAMA_SERVER = Path(os.environ.get("LLAMA_SERVER", user_cache() / "rag" / "llama-server" / "bin" / "llama-server"))


def wait_until(url: str, proc: subprocess.Popen, what: str, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        time.sleep(1)
    raise RuntimeError(f"{what} did not become ready in {timeout:.0f} s")


class Processes:
    """Processes started by the benchmark; all stopped at the end, whatever happens."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        for proc in self.procs:
            self.stop(proc)


def replica(procs: Processes, name: str, port: int, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    base = {"RAG_HOST": "127.0.0.1", "RAG_PORT": str(port), "RAG_RATE_LIMIT": "0", "RAG_QUEUE_SIZE": "64", "RAG_WARM_TEXTS": "0", "RAG_REQUEST_TIMEOUT": "1800"}
    proc = procs.start(name, [str(ROOT / ".venv" / "bin" / "rag"), "serve"], {**base, **env})
    url = f"http://127.0.0.1:{port}"
    wait_until(f"{url}/api/health", proc, name)
    return proc, url


def load(urls: list[str], users: list[list[dict]], start_on: int | None = None) -> dict:
    """Each user asks its questions one after another, on replica `start_on` or else (user number mod replicas);
    a failed request is retried on the next replica. Returns answers, latencies and what failed."""
    results: dict[str, dict] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def user(number: int, questions: list[dict]) -> None:
        client = httpx.Client(timeout=1800)
        for q in questions:
            start = time.perf_counter()
            attempts, which = 0, number % len(urls) if start_on is None else start_on
            while True:
                attempts += 1
                try:
                    r = client.post(f"{urls[which]}/api/ask", json={"question": q["question"]})
                    if r.status_code == 200:
                        body = r.json()
                        break
                    problem = f"{r.status_code}: {r.json().get('error')}"
                    wait = float(r.headers.get("Retry-After", 1))
                except httpx.HTTPError as exc:
                    problem, wait = f"{type(exc).__name__}", 1.0
                with lock:
                    failures.append(f"{q['id']} on replica {which + 1}: {problem}")
                if attempts >= 5:
                    body = None
                    break
                which = (which + 1) % len(urls)
                time.sleep(wait)
            with lock:
                results[q["id"]] = {"answer": body and body["answer"], "docs": body and sorted({c["doc_id"] for c in body["citations"]}),
                                    "refused": body and body["refused"], "seconds": time.perf_counter() - start, "attempts": attempts}
        client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=user, args=(i, qs)) for i, qs in enumerate(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies = sorted(r["seconds"] for r in results.values())
    return {
        "results": results, "failures": failures, "wall_s": wall, "answered": sum(r["answer"] is not None for r in results.values()),
        "per_min": 60 * len(results) / wall, "p50": statistics.median(latencies), "p90": latencies[int(0.9 * (len(latencies) - 1))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--per-user", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=2, help="llama-server slots")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    args = parser.parse_args()
    from postgres import postgres
    from run import machine
    from sections import update
    from serving import free_port

    if not LLAMA_SERVER.exists():
        raise SystemExit(f"{LLAMA_SERVER} is missing: build it with scripts/llama-server.sh (or set LLAMA_SERVER)")
    settings = Settings.load()
    gguf = models.ensure(settings, settings.generator_model) / models.spec(settings.generator_model).main_file
    verdict = hostcheck.decide(settings.llama_extra_buffers, gguf, settings.model_dir)
    questions = [q for q in load_questions(ROOT / "eval" / "dev.jsonl") if not q.history]
    chosen = [{"id": q.id, "question": q.question} for q in questions[: args.users * args.per_user]]
    users = [chosen[i :: args.users] for i in range(args.users)]
    started = time.time()
    logs = Path(tempfile.mkdtemp(prefix="rag-load-"))
    procs = Processes(logs)
    runs: dict[str, dict] = {}
    failover: dict = {}
    try:
        with postgres(free_port()) as pg:
            db = {"RAG_INDEX_BACKEND": "pgvector", "RAG_DATABASE_URL": pg.url}
            print("indexing seeds/ into PostgreSQL…", flush=True)
            subprocess.run([str(ROOT / ".venv" / "bin" / "rag"), "index"], cwd=ROOT, env={**os.environ, **db}, check=True, capture_output=True)
            port = free_port()
            server_args = [str(LLAMA_SERVER), "-m", str(gguf), "--host", "127.0.0.1", "--port", str(port), "-t", str(settings.n_threads),
                           "-c", str(settings.n_ctx * args.parallel), "-np", str(args.parallel), "--temp", "0", "--seed", str(settings.seed), "--no-webui"]
            if not verdict.extra_buffers:
                server_args.append("--no-repack")  # the host self-check found llama.cpp's extra buffers unsafe here
            llama = procs.start("llama-server", server_args)
            wait_until(f"http://127.0.0.1:{port}/health", llama, "llama-server")
            served = {**db, "RAG_GENERATOR_BACKEND": "openai", "RAG_OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "RAG_OPENAI_CONTINUES": "true",
                      "RAG_OPENAI_PARALLEL": str(max(1, args.parallel // 2))}
            print("scaled: two replicas…", flush=True)
            a, url_a = replica(procs, "replica-1", free_port(), served)
            b, url_b = replica(procs, "replica-2", free_port(), served)
            runs["scaled"] = load([url_a, url_b], users)
            print(f"  {runs['scaled']['wall_s']:.0f} s", flush=True)
            # failover: four questions in flight on replica 2 when it is killed; their users retry on replica 1
            threading.Timer(3.0, lambda: b.send_signal(signal.SIGKILL)).start()
            failover = load([url_b, url_a], [[q] for q in chosen[:4]], start_on=0)
            procs.stop(a)
            procs.stop(llama)
        print("single: one in-process replica…", flush=True)
        single, url = replica(procs, "single", free_port(), {})
        runs["single"] = load([url], users)
        procs.stop(single)
    finally:
        procs.close()

    s, one = runs["scaled"], runs["single"]
    same = sum(s["results"][i]["answer"] == one["results"][i]["answer"] for i in one["results"])
    same_docs = sum(s["results"][i]["docs"] == one["results"][i]["docs"] for i in one["results"])
    n = len(chosen)
    lines = [
        "## Load: two replicas with a shared database and model server, against one in-process replica",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}. `.venv/bin/python bench/load.py --users {args.users} --per-user {args.per_user} "
        f"--parallel {args.parallel}` ({(time.time() - started) / 60:.0f} min). {args.users} concurrent users, each asking {args.per_user} dev-set questions in turn "
        f"({n} different questions) over /api/ask. Scaled: PostgreSQL 18 + pgvector, llama-server ({settings.generator_model}, --parallel {args.parallel}, "
        f"{settings.n_threads} threads), two `rag serve` replicas. Single: one `rag serve`, FAISS folder, in-process GGUF. All on the same {os.cpu_count()} cores: "
        "the layout's gain here can only come from batching, not from more machines.",
        "",
        "| layout | answered | retried requests | wall time | questions/min | latency p50 | latency p90 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in (("scaled (2 replicas)", s), ("single in-process", one)):
        lines.append(f"| {name} | {r['answered']}/{n} | {len(r['failures'])} | {r['wall_s']:.0f} s | {r['per_min']:.1f} | {r['p50']:.1f} s | {r['p90']:.1f} s |")
    lines += [
        f"| scaled ÷ single | | | {s['wall_s'] / one['wall_s']:.2f} | {s['per_min'] / one['per_min']:.2f} | {s['p50'] / one['p50']:.2f} | {s['p90'] / one['p90']:.2f} |",
        "",
        f"- Answers equal to the single replica's, word for word: {same}/{n}; citing the same articles: {same_docs}/{n}.",
        f"- Failover: replica 2 killed 3 s into {len(failover.get('results', {}))} questions in flight on it; answered after a retry on replica 1: "
        f"{failover.get('answered', 0)}/{len(failover.get('results', {}))}, errors the clients saw: {len(failover.get('failures', []))} "
        f"({'; '.join(sorted(set(f.split(': ', 1)[1] for f in failover.get('failures', [])))) or 'none'}).",
    ]
    for name, r in runs.items():
        if r["failures"]:
            lines.append(f"- {name}: errors seen and retried: " + "; ".join(r["failures"][:6]))
    print("\n".join(lines))
    (logs / "answers.json").write_text(json.dumps({k: v["results"] for k, v in runs.items()}, ensure_ascii=False, indent=1))
    print(f"answers and logs: {logs}")
    update(args.out, "load", "bench/load.py", lines)


if __name__ == "__main__":
    main()
