"""The Ray backend: ingest, shards and replicas on a cluster (pip install -e '.[ray]').

Imported only when a command is given --ray / QA_RAY_ADDRESS; the embedded default never imports
this package or Ray.

    connect.py   joining a cluster (local | auto | address), every wait bounded
    ingest.py    files parsed, chunked and embedded by a pool of actors; one writer commits
    shards.py    FAISS and BM25 split over actors; a question fans out, BM25 statistics global
    serve.py     the Flask app behind Ray Serve, N replicas over the shared index folder
    status.py    nodes, replicas, shards and the index generation each holds
"""
