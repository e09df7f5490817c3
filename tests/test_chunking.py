from rag.chunking import chunk_document
from rag.documents import Document, load_corpus


def _doc(text: str) -> Document:
    return Document("d", "t", None, text, "d.txt")


def test_chunks_have_exact_offsets_and_sentence_spans() -> None:
    from conftest import SEEDS

    for doc in load_corpus(SEEDS)[0]:
        chunks = chunk_document(doc, lambda t: len(t.split()), 60, 1)
        assert chunks
        for c in chunks:
            assert doc.text[c.start : c.end] == c.text
            assert c.sentences[0][0] == 0 and c.sentences[-1][1] == len(c.text)
            assert all(c.text[s:e].strip() == c.text[s:e] for s, e in c.sentences)
        covered = {i for c in chunks for i in range(c.start, c.end)}
        assert all(i in covered for i, ch in enumerate(doc.text) if not ch.isspace())


def test_chunk_size_and_overlap() -> None:
    text = " ".join(f"جملة رقم {i} هنا." for i in range(30))
    chunks = chunk_document(_doc(text), lambda t: len(t.split()), 12, 1)
    assert all(len(c.text.split()) <= 12 for c in chunks)
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.sentence_texts()[-1] == b.sentence_texts()[0]  # one sentence of overlap


def test_oversized_sentence_is_its_own_chunk_and_ids_are_content_hashes() -> None:
    text = "قصيرة. " + "طويلة " * 50 + ". أخرى."
    first = chunk_document(_doc(text), lambda t: len(t.split()), 10, 0)
    again = chunk_document(_doc(text), lambda t: len(t.split()), 10, 0)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert len({c.chunk_id for c in first}) == len(first)
    assert any(len(c.text.split()) > 10 for c in first)
