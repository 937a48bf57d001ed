"""The service behind the API and the CLI: one index, opened on first use, asked through one path."""
from __future__ import annotations

import threading

from qa.errors import DocumentNotFound
from qa.index import Index
from qa.search import Answer, Searcher, clean_question


class Service:
    def __init__(self, config: dict):
        self.config = config
        self._index: Index | None = None
        self._lock = threading.Lock()

    @property
    def index(self) -> Index:
        """Opened lazily, so a server started before `qa ingest` starts answering once it is built."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = Index(self.config["INDEX"], self.config["MODEL"])
        return self._index

    def warm_up(self) -> None:
        """Load the model and the vectors now rather than on the first question."""
        index = self.index
        index.embedder.encode_query("warm up")
        index.vectors

    def ask(self, question: str, top_k: int) -> Answer:
        clean_question(question)  # a bad question is refused before the index is opened
        return Searcher(self.index).ask(question, top_k)

    def documents(self) -> list[dict]:
        return self.index.store.documents()

    def document(self, document_id: str) -> dict:
        found = self.index.store.document(document_id)
        if found is None:
            raise DocumentNotFound(f"No document has the id {document_id!r}.")
        return found

    def health(self) -> dict:
        documents, passages = self.index.store.counts()
        return {"ok": True, "documents": documents, "passages": passages, "model": self.index.model}
