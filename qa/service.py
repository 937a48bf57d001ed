"""The service behind the API and the CLI: one index, opened on first use, asked through one path."""
from __future__ import annotations

import re
import threading
import uuid

from pydantic import ValidationError

from qa.conversation import Topic
from qa.documents import Document
from qa.errors import BadRequest, CollectionNotFound, ConversationNotFound, DocumentNotFound, PageNotFound
from qa.history import ConversationStore, Head
from qa.index import Index
from qa.ingest import add_documents
from qa.metadata import DEFAULT_COLLECTION, check_collection
from qa.catalog import Scope
from qa.schemas import Filter
from qa.search import Answer, Searcher, clean_question

CONVERSATION_ID = re.compile(r"^[0-9a-f]{32}$")


class Service:
    def __init__(self, config: dict):
        self.config = config
        self._index: Index | None = None
        self._conversations: ConversationStore | None = None
        self._lock = threading.Lock()
        # One writer at a time: two uploads embedding at once would only slow each other, and
        # SQLite and FAISS must be changed in the same order. Readers never wait for it.
        self._writing = threading.Lock()

    @property
    def index(self) -> Index:
        """Opened lazily, so a server started before `qa ingest` starts answering once it is built."""
        if self._index is None:
            with self._lock:
                if self._index is None:
                    self._index = Index(self.config["INDEX"], self.config["MODEL"], backend=self.config.get("BACKEND"),
                                        index_type=self.config.get("INDEX_TYPE"))
        return self._index

    @property
    def conversations(self) -> ConversationStore:
        if self._conversations is None:
            files = self.index.files  # an index that is not built yet is refused here
            with self._lock:
                if self._conversations is None:
                    self._conversations = ConversationStore(
                        files.conversations, max_age_days=self.config.get("CONVERSATION_MAX_AGE_DAYS", 30),
                        max_count=self.config.get("CONVERSATION_MAX_COUNT", 10_000),
                        max_turns=self.config.get("CONVERSATION_MAX_TURNS", 100))
        return self._conversations

    def warm_up(self) -> None:
        """Load the model and the vectors now rather than on the first question."""
        index = self.index
        index.embedder.encode_query("warm up")
        index.refresh()  # load (or rebuild) FAISS and BM25 now, not on the first question
        index.derived.write_arrays_soon()

    def searcher(self) -> Searcher:
        """A searcher of this index, re-ranking by MaxSim unless the setting RERANK is off."""
        return Searcher(self.index, rerank=self.config.get("RERANK", "maxsim") != "off")

    def ask(self, question: str, top_k: int, collection: str = DEFAULT_COLLECTION,
            filter: Filter | dict | None = None) -> Answer:
        """One question on its own (the CLI, an agent's tool call), in one collection, optionally filtered."""
        clean_question(question)  # a bad question is refused before the index is opened
        return self.searcher().ask(question, top_k, scope=self.scope(collection, filter))

    def scope(self, collection: str, filter: Filter | dict | None) -> Scope:
        """Check a collection and a filter (a dict is validated as the API's Filter) and translate
        them into the search's Scope: a bad one is 400 naming the field, a collection holding no
        documents 404."""
        check_collection(collection)
        if isinstance(filter, dict):
            try:
                filter = Filter.model_validate(filter)
            except ValidationError as error:
                first = error.errors()[0]
                raise BadRequest(f"filter.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}.") from None
        collections = self.index.reader.catalog.collections()
        if collections and collection not in collections and collection != DEFAULT_COLLECTION:
            raise CollectionNotFound(f"No collection is named {collection!r}; GET /api/collections "
                                     f"(or qa documents --collection) lists them.")
        return filter.scope(collection) if filter is not None else Scope(collection)

    def ask_in_conversation(self, question: str, top_k: int, conversation_id: str | None,
                            collection: str = DEFAULT_COLLECTION, filter: Filter | None = None,
                            owner: str | None = None) -> dict:
        """A turn of a conversation (the API): the topic its last turn carried shapes the search; this
        one is stored. A new conversation belongs to `owner` (auth.Caller.identity); another
        caller's is not found (404), a full one is refused (409)."""
        clean_question(question)
        scope = self.scope(collection, filter)
        store = self.conversations
        topic = None
        if conversation_id is None:
            conversation_id = uuid.uuid4().hex  # created with its first turn, in one write
        else:
            head = self.conversation_head(conversation_id, owner)
            store.check_room(head.turns)  # before searching; add_turn checks again as it writes
            topic = Topic.from_dict(head.topic)
        answer = self.searcher().ask(question, top_k, topic=topic, scope=scope)
        body = {"question": answer.question, "conversation_id": conversation_id, **answer_body(answer)}
        store.add_turn(conversation_id, answer.question, body, topic=answer.topic and answer.topic.as_dict(),
                       collection=collection, owner=owner)
        return body

    def conversation_head(self, conversation_id: str, owner: str | None) -> Head:
        """What the next turn needs (owner, turns, collections, topic); 400 for a malformed id, 404
        for one that does not exist or belongs to another token."""
        if not CONVERSATION_ID.match(conversation_id):
            raise BadRequest(f"{conversation_id!r} is not a conversation id (32 hexadecimal digits).")
        head = self.conversations.head(conversation_id)
        if head is None or head.owner != owner:
            raise ConversationNotFound(f"No conversation has the id {conversation_id!r}.")
        return head

    def conversation(self, conversation_id: str, owner: str | None = None) -> dict:
        """The turns of a conversation `owner` opened. A passage of a document removed since is left
        out, whichever process removed it (removing it also deletes it from the stored turns)."""
        self.conversation_head(conversation_id, owner)
        turns = self.conversations.turns(conversation_id)
        cited = {p["citation"]["document_id"] for turn in turns for p in turn.get("passages", [])}
        present = self.index.store.existing(sorted(cited))
        for turn in turns:
            turn.pop("topic", None)  # stored in the turn before it was kept with the conversation
            turn["passages"] = [p for p in turn.get("passages", []) if p["citation"]["document_id"] in present]
        return {"id": conversation_id, "turns": turns}

    def delete_conversation(self, conversation_id: str, owner: str | None = None) -> None:
        self.conversation_head(conversation_id, owner)  # 400 or 404 as for a read
        self.conversations.delete_conversation(conversation_id)

    def documents(self, collection: str | None = DEFAULT_COLLECTION) -> list[dict]:
        """A collection's documents (every collection's with None)."""
        if collection is not None:
            self.scope(collection, None)  # 400 for a bad name, 404 for an unknown collection
        return self.index.store.documents(collection)

    def collections(self) -> dict[str, int]:
        """Each collection holding documents, with how many; "default" always."""
        return {DEFAULT_COLLECTION: 0, **self.index.reader.catalog.collections()}

    def edit_document(self, document_id: str, tags: list[str] | None = None, date: str | None = None,
                      set_date: bool = False, card: dict | None = None) -> dict:
        """Change a document's tags, date or card; the next question's filters see the change. A new
        card changes what its passages are indexed under, so they are embedded again (seconds for a
        long report), and a later reading of the same file keeps the edited fields."""
        if card:
            with self._writing:
                document = self.index.store.load_document(document_id)
                if document is None:
                    raise DocumentNotFound(f"No document has the id {document_id!r}.")
                document.card.edit(card)
                if document.card.title:
                    document.title = document.card.title.value
                kept = self.index.previews.original(document_id, document.hash)
                document.original = kept.read_bytes() if kept.is_file() else None
                add_documents(self.index, [document])
        if (tags is not None or set_date) and not self.index.store.update_metadata(document_id, tags, date, set_date):
            raise DocumentNotFound(f"No document has the id {document_id!r}.")
        return summary_of(self.document(document_id))

    def document(self, document_id: str) -> dict:
        found = self.index.store.document(document_id)
        if found is None:
            raise DocumentNotFound(f"No document has the id {document_id!r}.")
        return found

    def page_image(self, document_id: str, number: int) -> bytes:
        """A PDF page as PNG (rendered once, then cached beside the index)."""
        found = self.document(document_id)
        if not 1 <= number <= found["page_count"] or found["type"] != "pdf":
            raise PageNotFound(f"Document {document_id!r} has no page image {number} "
                               f"({found['type']}, {found['page_count']} pages; only PDF pages are rendered).")
        return self.index.previews.page(document_id, found["hash"], number)

    def add_document(self, document: Document) -> dict:
        """Store a document read from an upload (replacing one with the same source); the next
        question sees it. Returns its summary (no text)."""
        with self._writing:
            add_documents(self.index, [document])
            return summary_of(self.document(document.id))

    def remove_document(self, document_id: str) -> None:
        with self._writing:
            self.document(document_id)  # 404 for an unknown id
            self.index.remove_document(document_id)  # the derived files are saved in the background

    def health(self) -> dict:
        """Counts, and whether FAISS and BM25 hold every passage in SQLite. Cheap: two COUNTs and the
        in-memory indexes; read again if a write landed in between."""
        index = self.index
        for _ in range(5):
            generation = index.store.generation
            documents, passages = index.store.counts()
            vectors = len(index.vectors)
            lexical = len(index.lexical)
            if index.store.generation == generation:
                break
        return {"ok": True, "documents": documents, "passages": passages, "vectors": vectors,
                "consistent": passages == vectors == lexical, "model": index.model}


def summary_of(document: dict) -> dict:
    """A document without its text, pages and sections (what a listing shows)."""
    return {key: value for key, value in document.items() if key not in ("text", "pages", "sections")}


def answer_body(answer: Answer) -> dict:
    """An answer as the API gives it (POST /api/ask, less the conversation) and `qa ask --json` prints it."""
    return {"question": answer.question, "confident": answer.confident, "confidence": answer.confidence,
            "confidence_reasons": answer.confidence_reasons, "passages": [hit.as_dict() for hit in answer.passages],
            "took_ms": answer.took_ms, "collection": answer.collection, "filter_matched": answer.filter_matched,
            "message": answer.message}
