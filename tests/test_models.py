import hashlib
import os
from pathlib import Path

import pytest

from rag import models
from rag.errors import FetchFailed, ModelCorrupt, ModelMissing


@pytest.fixture
def tiny_model(monkeypatch, tmp_path: Path):
    """A one-file model registered under a test name, with its source file."""
    payload = os.urandom(4096)
    source = tmp_path / "tiny.gguf"
    source.write_bytes(payload)
    spec = models.ModelSpec("tiny", "generator", "test/tiny", "MIT", (models.ModelFile("tiny.gguf", hashlib.sha256(payload).hexdigest()),), (), models.PypiSource("file", (), ""))
    monkeypatch.setitem(models.REGISTRY, "tiny", spec)
    return source


def test_fetch_from_local_path_verifies_and_stores(settings, tiny_model) -> None:
    folder = models.fetch(settings, "tiny", tiny_model, log=lambda _: None)
    assert (folder / "tiny.gguf").read_bytes() == tiny_model.read_bytes()
    assert (folder / models.RECORD).exists()
    assert models.status(settings, "tiny") == "verified"
    assert not [p for p in settings.model_dir.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_second_fetch_is_a_no_op(settings, tiny_model) -> None:
    models.fetch(settings, "tiny", tiny_model, log=lambda _: None)
    messages: list[str] = []
    models.fetch(settings, "tiny", None, log=messages.append)
    assert any("verified at" in m for m in messages)


def test_source_with_wrong_hash_is_rejected_and_nothing_stored(settings, tiny_model) -> None:
    tiny_model.write_bytes(b"not the model")
    with pytest.raises(FetchFailed, match="SHA-256"):
        models.fetch(settings, "tiny", tiny_model, log=lambda _: None)
    assert models.status(settings, "tiny") == "missing"


def test_tampered_file_is_detected_and_deleted(settings, tiny_model) -> None:
    folder = models.fetch(settings, "tiny", tiny_model, log=lambda _: None)
    path = folder / "tiny.gguf"
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    stat = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and mtime: only the hash tells
    assert models.status(settings, "tiny") == "corrupt"
    with pytest.raises(ModelCorrupt, match="does not match"):
        models.ensure(settings, "tiny")
    assert not path.exists()
    assert models.status(settings, "tiny") == "missing"


def test_missing_and_unknown_models(settings) -> None:
    with pytest.raises(ModelMissing, match="rag models fetch"):
        models.ensure(settings, "embeddinggemma-300m")
    with pytest.raises(ModelMissing, match="Unknown model"):
        models.spec("no-such-model")


def test_no_source_gives_a_clear_error(settings, tiny_model) -> None:
    with pytest.raises(FetchFailed, match="Could not fetch tiny"):
        models.fetch(settings, "tiny", tiny_model.with_name("absent.gguf"), log=lambda _: None)


def test_listing_reports_every_registered_model(settings) -> None:
    rows = {r["name"]: r for r in models.listing(settings)}
    assert rows["embeddinggemma-300m"]["status"] == "missing"
    assert rows["qwen2.5-coder-1.5b-instruct-q4_k_m"]["license"] == "Apache-2.0"
    assert rows["embeddinggemma-300m"]["license"] == "Gemma Terms of Use"


def test_registry_pins_the_published_hashes() -> None:
    gemma = {f.path: f.sha256 for f in models.spec("embeddinggemma-300m").files}
    assert gemma["model.safetensors"] == "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2"
    assert models.spec("qwen2.5-coder-1.5b-instruct-q4_k_m").files[0].sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
