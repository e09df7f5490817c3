"""Starts the chat UI: `python app.py` (settings from RAG_* environment variables)."""

from rag.ui import main

if __name__ == "__main__":
    main()
