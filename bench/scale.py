"""Search at scale: FAISS flat, FAISS HNSW, FAISS IVF and pgvector HNSW over
100k and 1M chunk vectors shaped like real ones, each against exact search.

    .venv/bin/python bench/scale.py [--sizes 100000,1000000] [--pg-limit-s 1200]

The vectors: every chunk and sentence vector of the seed articles' index and
of the ARCD index (real EmbeddingGemma document vectors), each synthetic
chunk one of them plus Gaussian noise (cosine about 0.85 to its source),
normalized, so the set has the clusters and the anisotropy of real
embeddings. The queries are real: the dev set's and ARCD's questions
embedded with the query prompt. Recall@5 is against exact inner-product
search over the same vectors; search time is the median of single queries,
given also as a fraction of the time to embed one query (the part of a
question's retrieval no index can save). pgvector is built up to the largest
size whose predicted HNSW build stays within --pg-limit-s (from the 100k
build time); a size left out says so. Writes the "scale" section of
bench/results.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from rag import index as index_mod  # noqa: E402
from rag.embedding import load_embedder  # noqa: E402
from rag.evaluation import load_questions  # noqa: E402
from rag.settings import Settings, user_cache  # noqa: E402

ARCD = user_cache() / "rag" / "arcd"
K = 5
NOISE = 0.6  # norm of the noise added to a unit source vector: cosine ≈ 1/sqrt(1 + 0.36) ≈ 0.86


def sources() -> np.ndarray:
    """Real document vectors: chunks and sentences of the seed index and (when built) the ARCD index."""
    found = []
    for folder in (ROOT / "index", ARCD / "index"):
        try:
            ix = index_mod.load(folder)
        except Exception as exc:  # the ARCD index is optional here (eval/arcd.py builds it)
            print(f"  ({folder}: {exc})")
            continue
        found += [ix.faiss_index.reconstruct_n(0, ix.faiss_index.ntotal), ix.sentence_vectors]
    return np.concatenate(found).astype(np.float32)


def queries(settings: Settings) -> tuple[np.ndarray, float]:
    """Real question vectors, and the median seconds to embed one."""
    embedder = load_embedder(settings)
    texts = [q.question for q in load_questions(ROOT / "eval" / "dev.jsonl")]
    if (ARCD / "questions.jsonl").exists():
        texts += [json.loads(line)["question"] for line in (ARCD / "questions.jsonl").read_text(encoding="utf-8").splitlines()[:100]]
    embedder.embed_query(texts[0])
    vectors, times = [], []
    for text in texts:
        t = time.perf_counter()
        vectors.append(embedder.embed_query(text))
        times.append(time.perf_counter() - t)
    return np.stack(vectors).astype(np.float32), statistics.median(times)


def synthesize(base: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        noise = rng.standard_normal((m, base.shape[1]), dtype=np.float32)
        noise *= NOISE / np.linalg.norm(noise, axis=1, keepdims=True)
        block = base[rng.integers(0, len(base), m)] + noise
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + m] = block
    return out


def timed_search(search, qs: np.ndarray) -> tuple[list[list[int]], float]:
    rows, times = [], []
    for q in qs:
        t = time.perf_counter()
        rows.append(search(q))
        times.append(time.perf_counter() - t)
    return rows, statistics.median(times)


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return sum(len(set(f) & set(t)) for f, t in zip(found, truth.tolist(), strict=True)) / (K * len(found))


def faiss_rows(vectors: np.ndarray, qs: np.ndarray, truth: np.ndarray, hnsw_too: bool) -> list[dict]:
    n, dim = vectors.shape
    out = []

    def measure(name: str, idx, build_s: float, setting: str) -> None:
        found, ms = timed_search(lambda q: [int(r) for r in idx.search(q.reshape(1, -1), K)[1][0]], qs)
        out.append({"store": "FAISS", "index": name, "setting": setting, "build_s": build_s, "search_s": ms,
                    "recall": recall(found, truth), "bytes": len(faiss.serialize_index(idx)) / n})
        print(f"  {name} {setting}: recall {out[-1]['recall']:.3f}, {ms * 1000:.2f} ms", flush=True)

    t = time.perf_counter()
    flat = faiss.IndexFlatIP(dim)
    flat.add(vectors)
    measure("flat", flat, time.perf_counter() - t, "exact")
    del flat

    nlist = 1024 if n <= 200_000 else 4096
    t = time.perf_counter()
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.train(vectors[np.random.default_rng(1).choice(n, min(n, 40 * nlist), replace=False)])
    ivf.add(vectors)
    build = time.perf_counter() - t
    for nprobe in (16, 32, 64):
        ivf.nprobe = nprobe
        measure(f"IVF{nlist},Flat", ivf, build, f"nprobe {nprobe}")
    del ivf

    if not hnsw_too:
        return out
    t = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 40
    hnsw.add(vectors)
    build = time.perf_counter() - t
    for ef in (64, 128, 256):
        hnsw.hnsw.efSearch = ef
        measure("HNSW32,Flat", hnsw, build, f"efSearch {ef}")
    return out


def pg_rows(vectors: np.ndarray, qs: np.ndarray, truth: np.ndarray, url: str, m: int, efc: int) -> dict:
    import psycopg
    from pgvector.psycopg import register_vector

    n, dim = vectors.shape
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        conn.execute("DROP TABLE IF EXISTS scale")
        conn.execute(f"CREATE TABLE scale (row integer PRIMARY KEY, embedding vector({dim}) NOT NULL)")
        t = time.perf_counter()
        with conn.cursor().copy("COPY scale (row, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["integer", "vector"])
            for row, v in enumerate(vectors):
                copy.write_row([row, v])
        load_s = time.perf_counter() - t
        conn.execute("SET maintenance_work_mem = '4GB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        t = time.perf_counter()
        conn.execute(f"CREATE INDEX ON scale USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {efc})")
        build_s = time.perf_counter() - t
        size = conn.execute("SELECT pg_total_relation_size('scale')").fetchone()[0]
        rows = []
        for ef in (40, 100, 400, 1000):
            conn.execute(f"SET hnsw.ef_search = {ef}")
            found, ms = timed_search(lambda q: [r for (r,) in conn.execute("SELECT row FROM scale ORDER BY embedding <=> %s LIMIT 5", (q,)).fetchall()], qs)
            rows.append({"store": "pgvector", "index": f"HNSW m{m} efc{efc} (cosine)", "setting": f"ef_search {ef}", "build_s": build_s, "load_s": load_s,
                         "search_s": ms, "recall": recall(found, truth), "bytes": size / n})
            print(f"  pgvector ef_search {ef}: recall {rows[-1]['recall']:.3f}, {ms * 1000:.2f} ms (build {build_s:.0f} s)", flush=True)
        conn.execute("DROP TABLE scale")
    return {"rows": rows, "build_s": build_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--pg-limit-s", type=float, default=1200.0)
    parser.add_argument("--only", choices=["faiss", "pgvector"], help="measure one store (the other's rows of earlier runs are kept)")
    parser.add_argument("--pg-m", type=int, default=16, help="pgvector HNSW m")
    parser.add_argument("--pg-efc", type=int, default=64, help="pgvector HNSW ef_construction")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    args = parser.parse_args()
    from postgres import postgres
    from run import machine
    from sections import update
    from serving import free_port

    started = time.time()
    settings = Settings.load()
    base = sources()
    qs, embed_s = queries(settings)
    print(f"{len(base)} source vectors, {len(qs)} queries, one query embedding {embed_s * 1000:.1f} ms", flush=True)
    saved = ROOT / "bench" / "scale.json"  # rows of every size measured; a run replaces the sizes it measures
    kept = json.loads(saved.read_text()) if saved.exists() else {}
    results: dict[int, list[dict]] = {}
    skipped: list[str] = []
    hnsw_ok = True
    pg_build: float | None = None
    pg_size = 1
    with postgres(free_port()) as pg:
        for n in [int(x) for x in args.sizes.split(",")]:
            print(f"{n:,} chunks", flush=True)
            vectors = synthesize(base, n)
            exact = faiss.IndexFlatIP(vectors.shape[1])
            exact.add(vectors)
            truth = exact.search(qs, K)[1]
            del exact
            results[n] = faiss_rows(vectors, qs, truth, hnsw_ok) if args.only != "pgvector" else []
            if not hnsw_ok:
                skipped.append(f"FAISS HNSW at {n:,}: not built (no efSearch reached recall@5 0.95 at the size before)")
            hnsw_ok = any(r["recall"] >= 0.95 for r in results[n] if r["index"].startswith("HNSW"))
            if args.only == "faiss":
                del vectors
                continue
            predicted = None if pg_build is None else pg_build * (n / pg_size) * np.log(n) / np.log(pg_size)
            if predicted is not None and predicted > args.pg_limit_s:
                skipped.append(f"pgvector at {n:,}: not built (its HNSW build, predicted from {pg_size:,} as {predicted / 60:.0f} min, exceeds {args.pg_limit_s / 60:.0f} min)")
                print("  " + skipped[-1], flush=True)
            else:
                measured = pg_rows(vectors, qs, truth, pg.url, args.pg_m, args.pg_efc)
                results[n] += measured["rows"]
                pg_build, pg_size = measured["build_s"], n
            del vectors

    for rows in results.values():
        for r in rows:
            r["embed_s"] = embed_s
    for n, rows in results.items():  # a row replaces the earlier one of the same store, index and setting
        old = kept.get(str(n), {"rows": [], "skipped": []})
        key = lambda r: (r["store"], r["index"], r["setting"])  # noqa: E731
        merged = {key(r): r for r in old["rows"]} | {key(r): r for r in rows}
        notes = [x for x in old["skipped"] if not any(x.startswith(y.split(" at ")[0]) for y in skipped)] + [x for x in skipped if f" {n:,}:" in x]
        kept[str(n)] = {"rows": list(merged.values()), "skipped": notes, "embed_s": embed_s}
    saved.write_text(json.dumps(kept, indent=1))
    lines = [
        "## Search at scale",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}. `.venv/bin/python bench/scale.py --sizes {args.sizes}` "
        f"({(time.time() - started) / 60:.0f} min). Vectors: {len(base):,} real EmbeddingGemma document vectors (chunks and sentences of the seeds and ARCD), "
        f"each synthetic chunk one of them plus noise (cosine ≈ 0.86 to it), dimension {base.shape[1]}; {len(qs)} real questions as queries. "
        f"Recall@5 against exact search; search is the median single query, also as a fraction of embedding one query, measured in the same run ({embed_s * 1000:.0f} ms in the last). "
        "Bars: recall@5 ≥ 0.95, search ≤ 0.1 of a query embedding. pgvector is timed through psycopg on loopback (a round trip included).",
        "",
        "| chunks | store | index | setting | build | search p50 | ÷ embedding | recall@5 | bytes/chunk | both bars |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in sorted(kept, key=int):
        n, rows = int(size), kept[size]["rows"]
        for r in rows:
            r.setdefault("embed_s", kept[size]["embed_s"])
            ok = r["recall"] >= 0.95 and r["search_s"] <= 0.1 * r["embed_s"]
            lines.append(f"| {n:,} | {r['store']} | {r['index']} | {r['setting']} | {r['build_s']:.0f} s | {r['search_s'] * 1000:.2f} ms | "
                         f"{r['search_s'] / r['embed_s']:.3f} | {r['recall']:.3f} | {r['bytes']:.0f} | {'yes' if ok else 'no'} |")
    lines += [""] + [f"- {x}" for size in sorted(kept, key=int) for x in kept[size]["skipped"]]
    print("\n".join(lines))
    update(args.out, "scale", "bench/scale.py", lines)


if __name__ == "__main__":
    main()
