"""Shared fixtures: deterministic fakes behind the Embedder / Generator
protocols, a small corpus, and (for tests marked `models`) the real default
models, fetched and verified into the store when missing."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.generation import Message, Usage
from rag.settings import REPO_ROOT, Settings
from rag.text import words

SEEDS = REPO_ROOT / "seeds"


class FakeEmbedder:
    """Bag of normalized words hashed into 256 dimensions: same words, similar vectors."""

    model_id = "fake/bag-of-words"
    dimension = 256

    def __init__(self) -> None:
        self.embedded = 0  # texts embedded so far

    def _vector(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimension, dtype=np.float32)
        for w in words(text):
            v[int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dimension] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def embed_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.embedded += len(texts)
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def fingerprint(self) -> dict[str, str]:
        return {"fake": "1"}


class FakeGenerator:
    """Answers with whatever `respond(messages)` returns, word by word; records every call and its grammar
    (which it does not apply: what the assistant does with text outside the grammar is tested too)."""

    def __init__(self, respond: Callable[[list[Message]], str], n_ctx: int = 2048) -> None:
        self.name = "fake"
        self.n_ctx = n_ctx
        self.lock = threading.Lock()
        self.respond = respond
        self.calls: list[list[Message]] = []
        self.grammars: list[str | None] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def prompt_tokens(self, messages: list[Message]) -> int:
        return sum(self.count_tokens(m["content"]) + 3 for m in messages)

    def stream(self, messages: list[Message], max_tokens: int, grammar: str | None = None) -> Iterator[str | Usage]:
        self.calls.append(messages)
        self.grammars.append(grammar)
        text = self.respond(messages)
        pieces = text.split(" ")
        for i, piece in enumerate(pieces):
            yield piece if i == 0 else " " + piece
        yield Usage(self.prompt_tokens(messages), len(pieces))


def well_behaved(messages: list[Message]) -> str:
    """A model that answers as asked: three words of the quote it is given, or (the passages design)
    the first passage's text, cited [1]."""
    for line in messages[-1]["content"].splitlines():
        if line.startswith("Sentence: "):
            return " ".join(line[len("Sentence: ") :].split()[2:5])
        if line.startswith("[1] "):
            return line[4:].split(" … ")[0] + " [1]"
    return "?"


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def settings(tmp_path: Path, corpus: Path) -> Settings:
    """Default settings over the test corpus, except the fitted refusal and its check: their weights are
    for the real embedding model's similarities, not the fake one's (tests/test_refusal.py sets them where
    they are tested)."""
    return Settings.load({"corpus_dir": corpus, "index_dir": tmp_path / "index", "model_dir": tmp_path / "models", "refusal_doubt": 1.0,
                          "refusal_check": 1.0}, environ={})


@pytest.fixture
def fake_index(settings: Settings, fake_embedder: FakeEmbedder):
    from rag import index

    index.build(settings.corpus_dir, settings.index_dir, fake_embedder, "fake", 60, 1)
    return index.load(settings.index_dir)


# Real models ---------------------------------------------------------------


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Default settings with a private index; the real models are fetched if missing."""
    from rag import models

    s = Settings.load({"index_dir": tmp_path_factory.mktemp("real-index")})
    for name in (*models.embedding_models(s), s.generator_model):
        models.fetch(s, name)
    return s


@pytest.fixture(scope="session")
def host_verdict(real_settings: Settings, pytestconfig: pytest.Config):
    """The real self-check of llama.cpp's extra buffers for the default generator on this host
    (kept from an earlier run when one was made); printed at the end of the test output."""
    from rag import hostcheck, models

    path = models.ensure(real_settings, real_settings.generator_model) / models.spec(real_settings.generator_model).main_file
    verdict = hostcheck.decide("auto", path, real_settings.model_dir)
    pytestconfig.stash[_VERDICT] = verdict.line()
    return verdict


_VERDICT = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    line = config.stash.get(_VERDICT, None)
    terminalreporter.write_line(f"{_cpu()}: {line}" if line else "llama.cpp extra-buffer self-check: not run in this session")


def _cpu() -> str:
    from rag.hostcheck import _cpuinfo

    return _cpuinfo().get("model name", "unknown CPU")


@pytest.fixture(scope="session")
def real_embedder(real_settings: Settings):
    from rag.embedding import load_embedder

    return load_embedder(real_settings)


@pytest.fixture(scope="session")
def real_index(real_settings: Settings, real_embedder):
    from rag import index

    index.build(real_settings.corpus_dir, real_settings.index_dir, real_embedder, real_settings.embedding_model, real_settings.chunk_tokens, real_settings.chunk_overlap)
    return index.load(real_settings.index_dir)


@pytest.fixture(scope="session")
def real_assistant(real_settings: Settings, real_index, real_embedder, host_verdict):
    from rag.answering import Assistant
    from rag.generation import load_generator

    return Assistant(real_settings, real_index, real_embedder, load_generator(real_settings))


# Browser ---------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"  # Debian's package, installed by scripts/setup.sh --test
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Playwright, shared by the browser tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


# PostgreSQL --------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL 18 server with pgvector on 127.0.0.1 for the session (tests/postgres.py); stopped and deleted after."""
    from postgres import postgres
    from serving import free_port

    with postgres(free_port()) as server:
        yield server


@pytest.fixture
def database_url(pg_server, request: pytest.FixtureRequest) -> str:
    """A new empty database on the session's server, for one test."""
    import re

    import psycopg

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:50] + "_" + os.urandom(3).hex()
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_server.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def pg_settings(settings: Settings, database_url: str) -> Settings:
    """The fake-model settings with the index in PostgreSQL."""
    return settings.replace(index_backend="pgvector", database_url=database_url, embedding_model="fake", chunk_tokens=60, chunk_overlap=1)
