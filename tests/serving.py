"""Helpers to run servers on 127.0.0.1 inside a test, and stop them after."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(app: Any, port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if not thread.is_alive() or time.time() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def app_process(env: dict[str, str], timeout: float = 180) -> Iterator[str]:
    """Run app.py (UI and API) as a user would, on a free port of 127.0.0.1 with extra environment; yields its URL, stops it after."""
    import os
    import subprocess
    import sys
    import urllib.request

    from rag.settings import REPO_ROOT

    port = free_port()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO_ROOT, env={**os.environ, "RAG_HOST": "127.0.0.1", "RAG_PORT": str(port), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("UI did not start: " + (proc.stdout.read() if proc.stdout else "")) from None
                time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def sse_events(lines: Iterator[str]) -> list[tuple[str, Any]]:
    """(event, parsed data) pairs of a server-sent event stream, read as the CLI reads them."""
    from rag.client import sse_events as events

    return list(events(lines))
