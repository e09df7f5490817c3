"""Starts the chat UI with the API beside it: `python app.py` (settings from RAG_* environment variables)."""

import logging

from rag.server import serve
from rag.settings import Settings

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    serve(Settings.load())
