import json
from pathlib import Path

import numpy as np
import pytest

from rag import index
from rag.errors import CorpusError, IndexCorrupt, IndexMissing, IndexModelMismatch


def _build(settings, embedder):
    return index.build(settings.corpus_dir, settings.index_dir, embedder, "fake", 60, 1)


def test_build_and_load_round_trip(settings, fake_embedder) -> None:
    report = _build(settings, fake_embedder)
    ix = index.load(settings.index_dir)
    assert report.documents == 5 and ix.doc_count == 5 and len(ix.chunks) == report.chunks
    m = ix.manifest
    assert m["format_version"] == index.FORMAT_VERSION and m["embedding_model_id"] == "fake/bag-of-words"
    assert m["dimension"] == 256 and m["chunker"] == {"target_tokens": 60, "overlap_sentences": 1}
    assert len(ix.sentence_vectors) == sum(len(c.sentences) for c in ix.chunks)
    # the nearest chunk to a chunk's own vector is itself
    row = 3
    assert ix.search(fake_embedder.embed_documents([ix.chunks[row].text])[0], 1)[0][0] == row


def test_reindexing_is_incremental_and_idempotent(settings, fake_embedder) -> None:
    first = _build(settings, fake_embedder)
    second = _build(settings, fake_embedder)
    assert first.embedded > 0 and second.embedded == 0
    assert [c.chunk_id for c in index.load(settings.index_dir).chunks] == [c.chunk_id for c in index.load(settings.index_dir).chunks]
    (settings.corpus_dir / "new.txt").write_text("مقال جديد\nتحدث الوزير عن الطقس اليوم.", encoding="utf-8")
    third = _build(settings, fake_embedder)
    assert 0 < third.embedded <= 4


def test_missing_index(settings) -> None:
    with pytest.raises(IndexMissing, match="rag index"):
        index.load(settings.index_dir)


@pytest.mark.parametrize("victim", ["chunks.jsonl", "chunks.faiss", "sentences.npy"])
def test_damaged_file_is_refused(settings, fake_embedder, victim: str) -> None:
    report = _build(settings, fake_embedder)
    path = report.path / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="damaged"):
        index.load(settings.index_dir)


def test_manifest_problems_are_refused(settings, fake_embedder) -> None:
    report = _build(settings, fake_embedder)
    manifest = report.path / "manifest.json"
    manifest.write_text("{not json")
    with pytest.raises(IndexCorrupt, match="unreadable"):
        index.load(settings.index_dir)
    manifest.unlink()
    with pytest.raises(IndexCorrupt, match="incomplete"):
        index.load(settings.index_dir)


def test_other_model_is_refused(settings, fake_embedder) -> None:
    _build(settings, fake_embedder)

    class Other(type(fake_embedder)):  # type: ignore[misc]
        model_id = "other/model"

    with pytest.raises(IndexModelMismatch, match="other/model"):
        index.check_model(index.load(settings.index_dir), Other())


def test_failed_build_leaves_previous_index_in_use(settings, fake_embedder) -> None:
    _build(settings, fake_embedder)
    before = index.load(settings.index_dir)
    (settings.corpus_dir / "new.txt").write_text("مقال\nنص جديد تماما عن موضوع آخر.", encoding="utf-8")

    class Exploding(type(fake_embedder)):  # type: ignore[misc]
        def embed_documents(self, texts, progress=False):
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        _build(settings, Exploding())
    after = index.load(settings.index_dir)
    assert after.path == before.path and len(after.chunks) == len(before.chunks)


def test_empty_corpus_builds_nothing(settings, fake_embedder, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorpusError):
        index.build(empty, settings.index_dir, fake_embedder, "fake", 60, 1)
    assert not (settings.index_dir / "CURRENT").exists()


def test_large_corpus_uses_an_approximate_index(monkeypatch) -> None:
    monkeypatch.setattr(index, "FLAT_LIMIT", 100)
    vectors = np.random.default_rng(0).normal(size=(3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    faiss_index = index._faiss_index(vectors)
    assert "IVF" in type(faiss_index).__name__ and faiss_index.nprobe == index.IVF_NPROBE
    _, rows = faiss_index.search(vectors[:5], 1)
    assert rows[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_an_approximate_index_is_saved_loaded_and_reused(settings, fake_embedder, monkeypatch) -> None:
    monkeypatch.setattr(index, "FLAT_LIMIT", 10)
    first = _build(settings, fake_embedder)
    ix = index.load(settings.index_dir)
    assert ix.manifest["faiss_index"] == "ivf" and ix.faiss_index.nprobe == index.IVF_NPROBE
    row = 7
    assert ix.search(fake_embedder.embed_documents([ix.chunks[row].text])[0], 1)[0][0] == row
    assert _build(settings, fake_embedder).embedded == 0 < first.embedded  # its chunk vectors are reused too


def test_manifest_records_hashes_of_data_files(settings, fake_embedder) -> None:
    report = _build(settings, fake_embedder)
    manifest = json.loads((report.path / "manifest.json").read_text())
    assert set(manifest["files"]) == {"chunks.jsonl", "chunks.faiss", "sentences.npy"}
    assert (settings.index_dir / "CURRENT").read_text().strip() == report.path.name
