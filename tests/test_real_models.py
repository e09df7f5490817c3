"""End to end with the real default models (EmbeddingGemma-300m, Qwen2.5-Coder-1.5B
GGUF) and the real llama.cpp path; the models are fetched and verified by the
`real_settings` fixture when missing."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rag.evaluation import load_questions, recall_at, retrieval_ranks
from rag.retrieval import Retriever
from rag.settings import REPO_ROOT

pytestmark = pytest.mark.models
SULLIVAN_DOC = "000_a00ca570afe35320"


def _rag(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, cwd=REPO_ROOT, env={**os.environ, **(env or {})}, timeout=600)


@pytest.mark.parametrize("question", ["Who did Sullivan talk to?", "مع من تحدث سوليفان؟"])
def test_search_json_ranks_the_sullivan_article_first(real_index, real_settings, question: str) -> None:
    out = _rag("--index", str(real_settings.index_dir), "search", "--json", question)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["query"] == question
    assert data["hits"][0]["doc_id"] == SULLIVAN_DOC
    assert [h["rank"] for h in data["hits"]] == list(range(1, len(data["hits"]) + 1))
    assert set(data["hits"][0]) == {"rank", "doc_id", "chunk_id", "title", "date", "score", "text"}


def test_retrieval_recall_at_5_on_the_dev_set(real_index, real_embedder) -> None:
    retriever = Retriever(real_index, real_embedder)
    questions = [q for q in load_questions(REPO_ROOT / "eval" / "dev.jsonl") if q.answerable and not q.history]
    for lang in ("ar", "en"):
        ranks = [retrieval_ranks(q.doc_ids, [h.chunk.doc_id for h in retriever.search(q.question, 5)]) for q in questions if q.language == lang]
        assert len(ranks) >= 20
        assert recall_at(ranks, 5) >= 0.95, (lang, ranks)


def test_english_sullivan_question(real_assistant) -> None:
    answer = real_assistant.ask("Who did Sullivan talk to?")
    assert answer.language == "en" and not answer.refused
    # a person Sullivan talked to (the quote design gives one of the two names: lists are cut to one, docs/evaluation.md)
    assert "Ushakov" in answer.answer or "Patrushev" in answer.answer, answer.answer
    assert any(c.doc_id == SULLIVAN_DOC and c.supported for c in answer.citations)


def test_arabic_sullivan_question(real_assistant) -> None:
    answer = real_assistant.ask("مع من تحدث سوليفان؟")
    assert answer.language == "ar" and not answer.refused
    assert "أوشاكوف" in answer.answer or "باتروشيف" in answer.answer, answer.answer
    assert any(c.doc_id == SULLIVAN_DOC and c.supported for c in answer.citations)


def test_an_answer_does_not_depend_on_what_was_asked_before(real_assistant) -> None:
    from rag.answering import Assistant
    from rag.generation import load_generator

    a = real_assistant
    question = "مع من تحدث سوليفان؟"
    a.ask("Who did Sullivan talk to?")
    fresh = Assistant(a.settings, a.index, a.embedder, load_generator(a.settings))  # nothing asked before
    assert a.ask(question).draft == fresh.ask(question).draft


def test_a_system_message_read_once_is_restored_when_the_language_changes_back(real_assistant, monkeypatch) -> None:
    a = real_assistant
    llm = a.generator._llm
    question = "أين التقى بيرنز ناريشكين؟"
    first = a.ask(question).draft
    a.ask("Where did Burns meet Naryshkin?")  # the English system message replaces the Arabic one in the cache
    starts: list[int] = []
    evaluate = llm.eval
    monkeypatch.setattr(llm, "eval", lambda tokens: (starts.append(llm.n_tokens), evaluate(tokens))[1])
    assert a.ask(question).draft == first
    assert starts and starts[0] > 0  # reading began after the restored system message, not from scratch


def test_after_the_warm_up_a_first_question_reads_no_system_message_and_gets_the_same_answer(real_assistant, monkeypatch) -> None:
    a = real_assistant
    llm = a.generator._llm
    questions = ("What did Burns discuss with Naryshkin?", "ماذا ناقش بيرنز مع ناريشكين؟")  # questions the model answers (no single name to take)
    a.generator.forget()
    cold = [a.ask(q).draft for q in questions]
    a.generator.forget()
    a.warm()
    starts: list[int] = []
    evaluate = llm.eval
    monkeypatch.setattr(llm, "eval", lambda tokens: (starts.append(llm.n_tokens), evaluate(tokens))[1])
    for q, draft in zip(questions, cold, strict=True):
        starts.clear()
        assert a.ask(q).draft == draft
        assert starts and starts[0] > 0, q  # reading began after the system message the warm-up read


def test_embedding_model_reads_transcribed_phrases_and_turns_away_verbs(real_assistant) -> None:
    from rag import names

    s = real_assistant.settings
    text = "وقالت صحيفة نيويورك تايمز إن المحادثات جرت. وفي عام 1980 أسس ترامب شركة عقارية في نيويورك."
    g = names.glossary(text, [], real_assistant.english.name_similarity, s.name_similarity, s.phrase_similarity)
    assert g.get("نيويورك تايمز") == "New York Times", g
    assert g.get("ترامب") == "Trump" and not any("أسس" in arabic for arabic in g), g


def test_unrelated_question_is_refused(real_assistant) -> None:
    answer = real_assistant.ask("What is a good recipe for hummus?")
    assert answer.refused and answer.answer == "The articles do not say."


def test_a_new_question_after_an_unrelated_one_is_answered_on_its_own(real_assistant) -> None:
    history = [{"role": "user", "content": "Who is Kupchan?"}, {"role": "assistant", "content": "What the articles say: …"}]
    question = "Before the May 2022 call, when had Austin and Shoigu last spoken?"
    answer = real_assistant.ask(question, history)
    assert answer.query == question  # not joined to "Who is Kupchan?": joined, such a question was refused
    # answered from a sentence about Austin's calls, not Kupchan (the quote design's date here is a miss:
    # the sentence it reads is of another call, docs/evaluation.md)
    assert not answer.refused and answer.quote is not None and "أوستن" in answer.quote.text, answer.answer


def test_ask_json_contract(real_index, real_settings) -> None:
    out = _rag("--index", str(real_settings.index_dir), "ask", "--json", "أين جرت محادثات مديري الاستخبارات الأميركية والروسية؟")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"question", "answer", "refused", "language", "quote", "doubt", "citations", "timings"}
    assert set(data["timings"]) == {"retrieve_ms", "prompt_tokens", "ttft_ms", "completion_tokens", "total_ms", "quote_ms"}
    assert data["language"] == "ar" and "أنقرة" in data["answer"]
    q = data["quote"]
    assert q["doc_id"] and q["text"][q["phrase_start"] : q["phrase_end"]] in data["answer"]  # the answer is the marked phrase of the quote
    assert data["timings"]["quote_ms"] <= data["timings"]["ttft_ms"] <= data["timings"]["total_ms"]
    for c in data["citations"]:
        assert set(c) == {"n", "doc_id", "chunk_id", "title", "text", "quote", "start", "end", "supported"}
        assert c["text"][c["start"] : c["end"]] == c["quote"]


def test_a_one_question_ask_runs_without_torch(real_index, real_settings) -> None:
    """The embedding model runs on llama.cpp by default: `rag ask` imports neither torch nor
    sentence-transformers (their import was most of a cold start)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "rag.cli", "--index", str(real_settings.index_dir), "ask", "--local", "--json", "Who did Sullivan talk to?"],
                         capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "llama_cpp" in imported and "rag.embedding" in imported  # what was imported is read
    assert not imported & {"torch", "sentence_transformers", "transformers"}
    assert json.loads(out.stdout)["citations"][0]["doc_id"] == SULLIVAN_DOC


def test_the_two_embedding_backends_agree(real_settings, real_embedder) -> None:
    """llama.cpp's run of the converted GGUF gives the vectors and token counts sentence-transformers
    gives from the folder, so an index built by either is searched by the other."""
    from rag.embedding import LlamaEmbedder, SentenceTransformerEmbedder, load_embedder
    from rag.settings import Settings

    other = load_embedder(Settings.load({"index_dir": real_settings.index_dir, "embedding_backend": "sentence-transformers"}))
    assert isinstance(real_embedder, LlamaEmbedder) and isinstance(other, SentenceTransformerEmbedder)
    assert real_embedder.fingerprint() == other.fingerprint() and real_embedder.dimension == other.dimension
    questions = ["مع من تحدث سوليفان؟", "Who did Sullivan talk to?", "How long did the call last?", "ماذا طلب أوستن من شويغو؟"]
    sentences = [s for p in sorted(real_settings.corpus_dir.glob("*.txt")) for s in p.read_text(encoding="utf-8").replace("\n", " ").split(".") if len(s.split()) > 4][:60]
    mine_q = [real_embedder.embed_query(q) for q in questions]
    theirs_q = [other.embed_query(q) for q in questions]
    mine_d, theirs_d = real_embedder.embed_documents(sentences), other.embed_documents(sentences)
    assert min(float(a @ b) for a, b in zip(mine_q, theirs_q, strict=True)) > 0.9999
    assert min(float(a @ b) for a, b in zip(mine_d, theirs_d, strict=True)) > 0.9999
    for a, b in zip(mine_q, theirs_q, strict=True):
        assert int((mine_d @ a).argmax()) == int((theirs_d @ b).argmax())
    assert [real_embedder.count_tokens(s) for s in sentences] == [other.count_tokens(s) for s in sentences]
    assert real_embedder.embed_documents([]).shape == (0, real_embedder.dimension)


def test_corrupt_index_is_a_clear_cli_error(real_index, real_settings, tmp_path: Path) -> None:
    copy = tmp_path / "index"
    shutil.copytree(real_settings.index_dir, copy)
    live = copy / (copy / "CURRENT").read_text().strip()
    (live / "chunks.faiss").write_bytes(b"garbage")
    out = _rag("--index", str(copy), "search", "anything")
    assert out.returncode == 2 and "damaged" in out.stderr and "Traceback" not in out.stderr


def test_tampered_model_is_refused_and_named(real_settings, tmp_path: Path) -> None:
    from rag import models

    models.fetch(real_settings, "smollm2-135m-instruct-q4_1")
    store = tmp_path / "store"
    shutil.copytree(real_settings.model_dir / "smollm2-135m-instruct-q4_1", store / "smollm2-135m-instruct-q4_1")
    gguf = store / "smollm2-135m-instruct-q4_1" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    with open(gguf, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    env = {"RAG_MODEL_DIR": str(store)}
    listing = _rag("models", "list", "--json", env=env)
    assert {r["name"]: r["status"] for r in json.loads(listing.stdout)}["smollm2-135m-instruct-q4_1"] == "corrupt"
    out = _rag("--index", str(real_settings.index_dir), "ask", "hello?", env={**env, "RAG_GENERATOR_MODEL": "smollm2-135m-instruct-q4_1", "RAG_EMBEDDING_MODEL": "embeddinggemma-300m"})
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_llama_cpp_backend_streams_and_counts(real_settings) -> None:
    from rag import hostcheck, models
    from rag.generation import LlamaCppGenerator, Usage

    path = models.fetch(real_settings, "smollm2-135m-instruct-q4_1") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    verdict = hostcheck.decide(real_settings.llama_extra_buffers, path, real_settings.model_dir)
    gen = LlamaCppGenerator(path, "smollm2", extra_buffers=verdict.extra_buffers, n_ctx=512, threads=2)
    messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is the capital of France?"}]
    with gen.lock:
        events = list(gen.stream(messages, 24))
    text = "".join(e for e in events if isinstance(e, str))
    usage = events[-1]
    assert isinstance(usage, Usage) and usage.prompt_tokens == gen.prompt_tokens(messages) and 0 < usage.completion_tokens <= 24
    assert text.strip() and "<|im_end|>" not in text
    assert "<|im_start|>system" in gen.render(messages)  # the GGUF's own chat template
    opening = {"role": "assistant", "content": "The capital of France is"}
    assert gen.render([*messages, opening]) == gen.render(messages) + opening["content"]  # a closing assistant message is continued
    with gen.lock:
        continued = "".join(e for e in gen.stream([*messages, opening], 8) if isinstance(e, str))
    assert continued.strip() and not continued.lstrip().startswith("The capital")
    with gen.lock:  # cut off by the limit: the closing stream part is no token
        usage = list(gen.stream([{"role": "user", "content": "Count from one to fifty in words."}], 5))[-1]
    assert usage.completion_tokens == 5
