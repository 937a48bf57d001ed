"""Races between writes and questions: a question in one collection never cites another collection's
passages, whatever lands while it runs."""
from __future__ import annotations

import threading
import time

from qa.app import create_app
from qa.index import Index
from tests.conftest import API_TOKEN

SECRET = "Quokka ledger: the sapphire vault of Zanzibar opens with the word marzipan-otter."
QUESTION = "Which word opens the sapphire vault of Zanzibar in the quokka ledger?"
ROUNDS = 60
ASKERS = 3


def test_a_new_collections_first_document_never_reaches_another_collections_answers(index_dir):
    """With one collection in the index a question searches without a mask; an upload creating a
    second collection could land between choosing that and searching, and its passages were cited
    in default's answers (56 of 3,984 in the issue). Each round here creates a collection with its
    first document, then deletes it, while questions in default run without pause; every citation
    is counted."""
    app = create_app({"INDEX": str(index_dir), "API_TOKEN": API_TOKEN, "TESTING": True})
    writer = app.test_client()
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    assert writer.post("/api/ask", json={"question": QUESTION}).status_code == 200  # loaded before the race
    done = threading.Event()
    cited, leaked, failures = [0], [], []

    def ask() -> None:
        client = app.test_client()
        while not done.is_set():
            response = client.post("/api/ask", json={"question": QUESTION, "top_k": 10})
            if response.status_code != 200:
                failures.append(response.get_json())
                continue
            for passage in response.get_json()["passages"]:
                cited[0] += 1
                if "marzipan" in passage["text"] or passage["citation"]["source"].startswith("secret-"):
                    leaked.append(passage["citation"]["source"])

    askers = [threading.Thread(target=ask) for _ in range(ASKERS)]
    for thread in askers:
        thread.start()
    try:
        for round in range(ROUNDS):
            added = writer.post("/api/documents", headers=headers, json={
                "text": SECRET, "source": f"secret-{round}.txt", "collection": f"other-{round}"})
            assert added.status_code == 201, added.get_json()
            time.sleep(0.005)
            assert writer.delete(f"/api/documents/{added.get_json()['id']}", headers=headers).status_code == 204
    finally:
        done.set()
        for thread in askers:
            thread.join()
    assert not failures, failures[:3]
    assert cited[0] > 100
    assert leaked == [], f"{len(leaked)} of {cited[0]} citations came from another collection"


def test_a_document_deleted_between_reading_its_passages_and_its_fields_is_left_out(index_dir, test_embedder):
    """A candidate's row is read, then its document's type, label and collection (from memory, or
    from the store for a document the catalog has not seen yet). With several worker processes a
    delete can land between the two: the question failed with a 500 (KeyError) instead of answering
    without the deleted document."""
    index = Index(index_dir, test_embedder)
    documents = index.store.documents()
    gone, kept = documents[0]["id"], documents[1]["id"]
    ids = index.store.passages_of([gone, kept])

    def fields_after_a_delete(document_ids: list[str]) -> dict:
        with index.writing():
            index.remove_document(gone)  # lands between the rows read and the fields read
        return {}  # as a catalog that had not seen either document yet

    rows = index.store.scoring_rows(ids, index.dimension, fields_after_a_delete)
    assert rows and {row.document_id for row in rows} == {kept}
    index.close()
