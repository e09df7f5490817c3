from pathlib import Path

import pytest

from rag.errors import RagError
from rag.settings import Settings


def test_environment_and_overrides(tmp_path: Path) -> None:
    config = tmp_path / "rag.toml"
    config.write_text('top_k = 7\nhost = "0.0.0.0"\n')
    s = Settings.load({"port": 9000}, environ={"RAG_CONFIG": str(config), "RAG_TOP_K": "9", "RAG_INDEX_DIR": str(tmp_path)})
    assert (s.top_k, s.host, s.port, s.index_dir) == (9, "0.0.0.0", 9000, tmp_path)


@pytest.mark.parametrize(("given", "expected"), [("false", False), ("0", False), ("Off", False), ("no", False), ("true", True), ("1", True), ("on", True)])
def test_switches_read_from_the_environment(given: str, expected: bool) -> None:
    s = Settings.load(environ={"RAG_FOCUS_SENTENCE": given})
    assert s.focus_sentence is expected


def test_switches_from_a_config_file_and_overrides(tmp_path: Path) -> None:
    config = tmp_path / "rag.toml"
    config.write_text("focus_sentence = false\n")
    s = Settings.load({"top_k": 3}, environ={"RAG_CONFIG": str(config)})
    assert s.top_k == 3 and s.focus_sentence is False


@pytest.mark.parametrize(
    ("env", "message"),
    [({"RAG_TOP_K": "0"}, "out of range"), ({"RAG_TOP_K": "many"}, "bad value"), ({"RAG_PORT": "70000"}, "out of range"), ({"RAG_FOCUS_SENTENCE": "maybe"}, "bad value"),
     ({"RAG_GENERATOR_BACKEND": "olama"}, "not one of: llama, openai"), ({"RAG_RETRIEVAL_MODE": "Dense"}, "not one of: dense, bm25, hybrid, script"),
     ({"RAG_MODEL_SOURCES": "pypi,hf"}, "names 'hf'; known: hub, pypi")],
)
def test_bad_values_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(RagError, match=message):
        Settings.load(environ=env)


def test_unknown_setting() -> None:
    with pytest.raises(RagError, match="Unknown setting"):
        Settings.load({"colour": "blue"}, environ={})


def test_each_value_says_where_it_came_from(tmp_path: Path) -> None:
    config = tmp_path / "rag.toml"
    config.write_text("top_k = 7\nport = 8000\n")
    s = Settings.load({"port": 9000}, environ={"RAG_CONFIG": str(config), "RAG_EVIDENCE_SENTENCES": "3"})
    origins = s.origins()
    assert (s.top_k, s.port, s.evidence_sentences) == (7, 9000, 3)
    assert origins["top_k"] == f"config file {config}" and origins["port"] == "command line"
    assert origins["evidence_sentences"] == "environment RAG_EVIDENCE_SENTENCES" and origins["host"] == "default"
    assert s.replace(top_k=2).origins()["top_k"] == "code" and s.replace(top_k=2).origins()["port"] == "command line"


def test_a_missing_or_broken_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RagError, match="does not exist"):
        Settings.load(environ={"RAG_CONFIG": str(tmp_path / "none.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("top_k = = 3\n")
    with pytest.raises(RagError, match="not valid TOML"):
        Settings.load(environ={"RAG_CONFIG": str(broken)})


def test_every_setting_is_documented_and_in_a_group() -> None:
    from rag.settings import GROUPS, group_of

    for name, field in Settings.model_fields.items():
        assert field.description and group_of(name) in GROUPS, name


def test_rag_settings_prints_every_value_with_its_origin(monkeypatch, capsys) -> None:
    from rag import cli

    monkeypatch.setenv("RAG_TOP_K", "11")
    monkeypatch.setenv("RAG_API_TOKENS", "secret-token")
    assert cli.main(["--index", "/tmp/elsewhere", "settings"]) == 0
    out = capsys.readouterr().out
    assert "top_k = 11  [environment RAG_TOP_K]" in out and "index_dir = '/tmp/elsewhere'  [command line]" in out
    assert "secret-token" not in out and "api_tokens = (set)" in out  # secrets are not printed
    assert sum(line.count(" = ") for line in out.splitlines()) == len(Settings.model_fields)
