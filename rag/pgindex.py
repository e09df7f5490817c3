"""The index in PostgreSQL with the pgvector extension, shared by several app replicas.

Tables (made by the first build; the database needs `CREATE EXTENSION vector`
allowed, or the extension made by its owner beforehand):
    rag_builds(id, manifest, built_at)       one row a build; the manifest as the FAISS store writes it
    rag_current(only, build_id)              the live build: one row
    rag_chunks_<id>(row, chunk, text_key, embedding vector(d))
                                             an HNSW index (cosine) on embedding
    rag_sentences_<id>(chunk_row, position, text_key, embedding vector(d))

Each build has tables of its own, so its HNSW graph holds only its chunks and
a search needs no filter. The texts are embedded first, outside any
transaction; then one transaction writes the build's tables, its HNSW index
and the switch of `rag_current`, so a build that fails or is killed midway
leaves the previous build serving. Builds take an advisory lock, one at a
time. A text whose SHA-256 matches one of the live build (same embedding
model) reuses its vector. The build before the live one is kept, so replicas
still on it go on answering until they restart; older ones are dropped.

A replica holds the chunks' text and metadata in memory (BM25, prompts and
citations need them) and asks the database for nearest chunks and for the
sentence vectors of the chunks it retrieved.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .chunking import Chunk
from .embedding import Embedder
from .errors import IndexCorrupt, IndexMissing, IndexUnavailable, RagError
from .settings import Settings
from .store import FORMAT, FORMAT_VERSION, BuildReport, best, candidates, chunk_from, embed_corpus, manifest_for, same_model, text_key

_LOCK = 7_262_001  # advisory lock key of index builds
_HNSW = {"m": 32, "ef_construction": 128}  # bench/scale.py: recall@5 0.98 at 100k chunks with ef_search 400 (m 16, ef_construction 64: 0.92)


def redact(url: str) -> str:
    """A connection string with its password hidden, for messages and `rag settings`."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        parts = conninfo_to_dict(url)
    except Exception:  # not a connection string psycopg can read: show nothing of it
        return "(unreadable connection string)"
    if "password" in parts:
        parts["password"] = "(set)"
    return make_conninfo("", **{k: str(v) for k, v in parts.items() if v is not None})


def _where(settings: Settings) -> str:
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(settings.database_url)
    except Exception:
        return "the index database"
    return f"database {parts.get('dbname') or parts.get('user') or ''} at {parts.get('host') or 'localhost'}:{parts.get('port') or 5432}"


def _connect(settings: Settings) -> Any:
    """A connection with the vector type registered and the search settings set; IndexUnavailable when down."""
    import psycopg
    from pgvector.psycopg import register_vector

    if not settings.database_url:
        raise RagError("index_backend=pgvector needs database_url (RAG_DATABASE_URL), e.g. postgresql://rag@127.0.0.1/rag")
    try:
        conn = psycopg.connect(
            settings.database_url, autocommit=True, connect_timeout=max(1, round(settings.database_timeout)),
            options=f"-c statement_timeout={int(settings.database_timeout * 1000)}",
        )
    except psycopg.OperationalError as exc:
        raise IndexUnavailable(f"Cannot reach the {_where(settings)} ({_first_line(exc)}); try again when it is up") from None
    try:
        try:
            register_vector(conn)
        except psycopg.ProgrammingError:  # the vector type does not exist yet: make the extension, then register
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(conn)
        conn.execute(f"SET hnsw.ef_search = {int(settings.hnsw_ef_search)}")
    except psycopg.Error as exc:
        conn.close()
        raise RagError(f"The {_where(settings)} has no pgvector extension and it cannot be made ({_first_line(exc)})") from None
    return conn


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


@contextmanager
def _errors(settings: Settings) -> Iterator[None]:
    """Database failures as the library's errors: down or timed out → IndexUnavailable (retryable)."""
    import psycopg

    try:
        yield
    except psycopg.errors.UndefinedTable:
        raise IndexMissing(f"The index build this process loaded is gone from the {_where(settings)} (two newer builds replaced it); restart to load the live one") from None
    except (psycopg.OperationalError, psycopg.errors.QueryCanceled) as exc:
        raise IndexUnavailable(f"The {_where(settings)} did not answer ({_first_line(exc)}); try again") from None
    except psycopg.Error as exc:
        raise IndexCorrupt(f"The index in the {_where(settings)} cannot be read ({_first_line(exc)}); rebuild with: rag index") from None


def _schema(conn: Any) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS rag_builds (id bigserial PRIMARY KEY, manifest jsonb NOT NULL, built_at timestamptz NOT NULL DEFAULT now())")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS rag_current (only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row), build_id bigint NOT NULL REFERENCES rag_builds(id))"
    )


def _live(conn: Any) -> tuple[int, dict[str, Any]] | None:
    """The live build's number and manifest, or None before the first build."""
    if conn.execute("SELECT to_regclass('rag_current')").fetchone()[0] is None:
        return None
    row = conn.execute("SELECT b.id, b.manifest FROM rag_current c JOIN rag_builds b ON b.id = c.build_id").fetchone()
    return None if row is None else (int(row[0]), row[1])


@dataclass
class PgIndex:
    """A loaded build of the database index: chunks in memory, vectors searched in PostgreSQL."""

    settings: Settings
    build_id: int
    manifest: dict[str, Any]
    chunks: list[Chunk]
    _conn: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sentences: dict[int, np.ndarray] = field(default_factory=dict)  # chunk row → its sentence vectors
    _by_text: dict[str, np.ndarray | None] = field(default_factory=dict)

    @property
    def location(self) -> str:
        """The database and the build number."""
        return f"{_where(self.settings)}, build {self.build_id}"

    @property
    def doc_count(self) -> int:
        """Articles in the index."""
        return len({c.doc_id for c in self.chunks})

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of a query on this replica's connection; a lost connection is made again once."""
        import psycopg

        with self._lock, _errors(self.settings):
            for attempt in (1, 2):
                if self._conn is None or self._conn.closed:
                    self._conn = _connect(self.settings)
                try:
                    return list(self._conn.execute(sql, params).fetchall())
                except psycopg.OperationalError:
                    self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """Raise IndexUnavailable when the database does not answer, IndexMissing when this build is gone."""
        self._query(f"SELECT 1 FROM rag_chunks_{self.build_id} LIMIT 1", ())

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Row numbers and cosine similarities of the k nearest chunks (HNSW)."""
        k = min(k, len(self.chunks))
        if k <= 0:
            return []
        vector = np.asarray(query, dtype=np.float32).reshape(-1)
        rows = self._query(f"SELECT row, embedding <=> %s AS d FROM rag_chunks_{self.build_id} ORDER BY d LIMIT %s", (vector, candidates(k, len(self.chunks))))
        return best(((int(r), 1.0 - float(d)) for r, d in rows), k)

    def sentence_vectors_of(self, rows: Sequence[int]) -> list[np.ndarray]:
        """For each chunk row, its sentence vectors, fetched once and kept."""
        missing = sorted({int(r) for r in rows} - self._sentences.keys())
        if missing:
            found: dict[int, list[np.ndarray]] = {r: [] for r in missing}
            sql = f"SELECT chunk_row, embedding FROM rag_sentences_{self.build_id} WHERE chunk_row = ANY(%s) ORDER BY chunk_row, position"
            for row, vector in self._query(sql, (missing,)):
                found[int(row)].append(np.asarray(vector.to_numpy(), dtype=np.float32))
            for row, vectors in found.items():
                if len(vectors) != len(self.chunks[row].sentences):
                    raise IndexCorrupt(f"The index in the {_where(self.settings)} is inconsistent (chunk {row} has {len(vectors)} sentence vectors); rebuild with: rag index")
                self._sentences[row] = np.stack(vectors)
        return [self._sentences[int(r)] for r in rows]

    def sentence_vector(self, text: str) -> np.ndarray | None:
        """The stored vector of a sentence of the corpus, or None for any other text."""
        if text not in self._by_text:
            rows = self._query(f"SELECT embedding FROM rag_sentences_{self.build_id} WHERE text_key = %s LIMIT 1", (text_key(text),))
            self._by_text[text] = np.asarray(rows[0][0].to_numpy(), dtype=np.float32) if rows else None
        return self._by_text[text]


def load(settings: Settings) -> PgIndex:
    """The live build of the database index; raises IndexMissing, IndexCorrupt or IndexUnavailable."""
    conn = _connect(settings)
    try:
        with _errors(settings):
            live = _live(conn)
            if live is None:
                raise IndexMissing(f"No index in the {_where(settings)}; build one with: rag index")
            build_id, manifest = live
            if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
                raise IndexCorrupt(f"Index build {build_id} has format {manifest.get('format')} v{manifest.get('format_version')}, expected {FORMAT} v{FORMAT_VERSION}; rebuild with: rag index")
            chunks = [chunk_from(json.loads(text)) for (text,) in conn.execute(f"SELECT chunk FROM rag_chunks_{build_id} ORDER BY row").fetchall()]
            sentences = conn.execute(f"SELECT count(*) FROM rag_sentences_{build_id}").fetchone()[0]
    except BaseException:
        conn.close()
        raise
    counts = manifest.get("counts", {})
    if len(chunks) != counts.get("chunks") or sentences != counts.get("sentences") or sentences != sum(len(c.sentences) for c in chunks):
        conn.close()
        raise IndexCorrupt(f"Index build {build_id} in the {_where(settings)} is inconsistent (counts differ); rebuild with: rag index")
    return PgIndex(settings, build_id, manifest, chunks, conn)


def _previous_vectors(conn: Any, embedder: Embedder) -> dict[str, np.ndarray]:
    """Vectors of the live build keyed by text hash, when it used the same embedding model."""
    live = _live(conn)
    if live is None or not same_model(live[1], embedder):
        return {}
    build_id = live[0]
    rows = conn.execute(f"SELECT text_key, embedding FROM rag_chunks_{build_id} UNION ALL SELECT text_key, embedding FROM rag_sentences_{build_id}").fetchall()
    return {key: np.asarray(vector.to_numpy(), dtype=np.float32) for key, vector in rows}


def build(
    settings: Settings,
    embedder: Embedder,
    progress: bool = False,
    log: Callable[[str], None] = lambda _: None,
) -> BuildReport:
    """Build the database index of `settings.corpus_dir` and switch it in, in one transaction."""
    started = time.time()
    conn = _connect(settings)
    try:
        with _errors(settings):
            _schema(conn)
            previous = _previous_vectors(conn, embedder)
        built = embed_corpus(settings.corpus_dir, embedder, settings.chunk_tokens, settings.chunk_overlap, previous, progress, log)
        dim = int(built.chunk_vectors.shape[1])
        log(f"writing {len(built.chunks)} chunks and {len(built.sentence_texts)} sentences to the {_where(settings)}")
        with _errors(settings), conn.transaction():
            conn.execute("SET LOCAL statement_timeout = 0")  # a large build's HNSW index takes minutes
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            build_id = int(conn.execute("INSERT INTO rag_builds (manifest) VALUES ('{}') RETURNING id").fetchone()[0])
            conn.execute(f"CREATE TABLE rag_chunks_{build_id} (row integer PRIMARY KEY, chunk text NOT NULL, text_key text NOT NULL, embedding vector({dim}) NOT NULL)")
            conn.execute(
                f"CREATE TABLE rag_sentences_{build_id} (chunk_row integer NOT NULL, position integer NOT NULL, text_key text NOT NULL, "
                f"embedding vector({dim}) NOT NULL, PRIMARY KEY (chunk_row, position))"
            )
            with conn.cursor().copy(f"COPY rag_chunks_{build_id} (row, chunk, text_key, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["integer", "text", "text", "vector"])
                for row, (chunk, vector) in enumerate(zip(built.chunks, built.chunk_vectors, strict=True)):
                    copy.write_row([row, json.dumps(asdict(chunk), ensure_ascii=False), text_key(chunk.text), vector])
            with conn.cursor().copy(f"COPY rag_sentences_{build_id} (chunk_row, position, text_key, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                copy.set_types(["integer", "integer", "text", "vector"])
                for row, chunk in enumerate(built.chunks):
                    for position, sentence in enumerate(chunk.sentence_texts()):
                        copy.write_row([row, position, text_key(sentence), built.sentence_vectors[int(built.offsets[row]) + position]])
            conn.execute(f"CREATE INDEX ON rag_sentences_{build_id} (text_key)")
            conn.execute(f"CREATE INDEX ON rag_chunks_{build_id} USING hnsw (embedding vector_cosine_ops) WITH (m = {_HNSW['m']}, ef_construction = {_HNSW['ef_construction']})")
            manifest = manifest_for(
                built, embedder, settings.embedding_model, settings.chunk_tokens, settings.chunk_overlap, time.time() - started,
                store="pgvector", build=build_id, hnsw={**_HNSW, "distance": "cosine"},
            )
            conn.execute("UPDATE rag_builds SET manifest = %s WHERE id = %s", (json.dumps(manifest, ensure_ascii=False), build_id))
            before = _live(conn)
            conn.execute(
                "INSERT INTO rag_current (only_row, build_id) VALUES (true, %s) ON CONFLICT (only_row) DO UPDATE SET build_id = EXCLUDED.build_id", (build_id,)
            )
            keep = {build_id, before[0] if before else build_id}
            for (old,) in conn.execute("SELECT id FROM rag_builds WHERE NOT (id = ANY(%s))", (sorted(keep),)).fetchall():
                conn.execute(f"DROP TABLE IF EXISTS rag_chunks_{int(old)}, rag_sentences_{int(old)}")
                conn.execute("DELETE FROM rag_builds WHERE id = %s", (old,))
    finally:
        conn.close()
    return BuildReport(f"{_where(settings)}, build {build_id}", len(built.documents), len(built.chunks), built.embedded, built.reused, built.skipped, time.time() - started)
