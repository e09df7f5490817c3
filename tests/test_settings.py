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
    s = Settings.load(environ={"RAG_COUNTRY_CHECK": given, "RAG_FOCUS_SENTENCE": given})
    assert s.country_check is expected and s.focus_sentence is expected


def test_switches_from_a_config_file_and_overrides(tmp_path: Path) -> None:
    config = tmp_path / "rag.toml"
    config.write_text("country_check = false\n")
    s = Settings.load({"focus_sentence": False}, environ={"RAG_CONFIG": str(config)})
    assert s.country_check is False and s.focus_sentence is False


@pytest.mark.parametrize(
    ("env", "message"),
    [({"RAG_TOP_K": "0"}, "out of range"), ({"RAG_TOP_K": "many"}, "bad value"), ({"RAG_PORT": "70000"}, "out of range"), ({"RAG_COUNTRY_CHECK": "maybe"}, "bad value"),
     ({"RAG_GENERATOR_BACKEND": "olama"}, "not one of: llama, openai"), ({"RAG_ENGLISH_MODE": "Direct"}, "not one of: direct, translate"),
     ({"RAG_MODEL_SOURCES": "pypi,hf"}, "names 'hf'; known: hub, pypi")],
)
def test_bad_values_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(RagError, match=message):
        Settings.load(environ=env)


def test_unknown_setting() -> None:
    with pytest.raises(RagError, match="Unknown setting"):
        Settings.load({"colour": "blue"}, environ={})
