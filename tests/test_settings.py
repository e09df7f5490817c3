from pathlib import Path

import pytest

from rag.errors import RagError
from rag.settings import Settings


def test_environment_and_overrides(tmp_path: Path) -> None:
    config = tmp_path / "rag.toml"
    config.write_text('top_k = 7\nhost = "0.0.0.0"\n')
    s = Settings.load({"port": 9000}, environ={"RAG_CONFIG": str(config), "RAG_TOP_K": "9", "RAG_INDEX_DIR": str(tmp_path)})
    assert (s.top_k, s.host, s.port, s.index_dir) == (9, "0.0.0.0", 9000, tmp_path)


@pytest.mark.parametrize(("env", "message"), [({"RAG_TOP_K": "0"}, "out of range"), ({"RAG_TOP_K": "many"}, "bad value"), ({"RAG_PORT": "70000"}, "out of range")])
def test_bad_values_are_clear_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(RagError, match=message):
        Settings.load(environ=env)


def test_unknown_setting() -> None:
    with pytest.raises(RagError, match="Unknown setting"):
        Settings.load({"colour": "blue"}, environ={})
