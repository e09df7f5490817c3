"""bench/results.md is written by several scripts, each owning one section
between `<!-- name: script -->` and `<!-- /name -->`; a script rewrites its
own section and leaves the others as they are."""

from __future__ import annotations

from pathlib import Path


def update(out: Path, name: str, script: str, lines: list[str]) -> None:
    """Replace section `name` of `out` with `lines` (appended when the section is new)."""
    begin, end = f"<!-- {name}: {script} -->", f"<!-- /{name} -->"
    section = "\n".join([begin, *lines, end])
    old = out.read_text(encoding="utf-8") if out.exists() else ""
    if begin in old and end in old:
        new = old[: old.index(begin)] + section + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + section + "\n"
    out.write_text(new, encoding="utf-8")
