"""The `qa` command: ingest | ask | serve | documents."""
from __future__ import annotations

import json
import logging
import os
import sys
import textwrap
import typing
from functools import wraps
from pathlib import Path

import click

from qa import settings
from qa.errors import QAError

index_option = click.option(
    "--index", "index_dir", envvar="QA_INDEX", default=settings.DEFAULTS["INDEX"], show_default=True,
    type=click.Path(file_okay=False), help="Index folder (env QA_INDEX).",
)
collection_option = click.option(
    "--collection", default="default", show_default=True, metavar="NAME",
    help="The collection (a separate set of documents; a question sees one).",
)
model_option = click.option(
    "--model", envvar="QA_MODEL", default=None,
    help="A local sentence-transformers model folder (env QA_MODEL); default: the bundled all-MiniLM-L6-v2.",
)



def remember(context, parameter, value):
    """Settings every Index of this process (and the processes it starts) must share travel in their
    QA_* variable, the name the settings schema (qa/settings.py) reads them by."""
    if value:
        os.environ[f"QA_{parameter.name.upper()}"] = str(value)
    return value


def choices(name: str) -> click.Choice:
    return click.Choice(list(typing.get_args(settings.Settings.model_fields[name].annotation)))


def engine_options(command):
    """--backend, --index-type and --cache: how an index is embedded, searched and cached."""
    for option in reversed([
        click.option("--backend", envvar="QA_BACKEND", default=None, callback=remember, expose_value=False,
                     type=choices("backend"), help=settings.Settings.model_fields["backend"].description
                     + " (env QA_BACKEND)"),
        click.option("--index-type", "index_type", envvar="QA_INDEX_TYPE", default=None, callback=remember,
                     expose_value=False, type=choices("index_type"),
                     help=settings.Settings.model_fields["index_type"].description + " (env QA_INDEX_TYPE)"),
        click.option("--cache", envvar="QA_CACHE", default=None, callback=remember, expose_value=False,
                     type=click.Path(file_okay=False),
                     help=settings.Settings.model_fields["cache"].description + " (env QA_CACHE)"),
    ]):
        command = option(command)
    return command


def friendly_errors(command):
    """One clear line and a non-zero exit instead of a traceback."""
    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except QAError as error:
            raise click.ClickException(error.message) from None
        except (OSError, ValueError) as error:
            raise click.ClickException(str(error)) from None
    return wrapper


@click.group()
@click.version_option(package_name="qa")
def main() -> None:
    """Ask questions of your documents; get back cited passages."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings.load()  # a wrong QA_* value is named now, not deep inside a command
    except QAError as error:
        raise click.ClickException(error.message) from None


ray_option = click.option(
    "--ray", "ray_address", envvar="QA_RAY_ADDRESS", default=None, metavar="ADDRESS",
    help=settings.Settings.model_fields["ray_address"].description + " (env QA_RAY_ADDRESS)",
)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--prune", is_flag=True, help="Remove documents of the folders in PATHS whose files are gone (never uploads, never other folders').")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--watch", is_flag=True, help="Keep watching the folders in PATHS: new and changed files are read and "
              "deleted files removed within seconds (implies --prune; Ctrl-C stops).")
@collection_option
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Tag every file given (repeat for more tags); "
              "replaces their tags. Without --tag, documents keep theirs.")
@click.option("--follow-links", is_flag=True, help="Also read links (to files or folders) that lead outside the "
              "folders given; by default they are skipped and listed.")
@ray_option
@index_option
@model_option
@engine_options
@friendly_errors
def ingest(paths: tuple[Path, ...], prune: bool, quiet: bool, watch: bool, collection: str, tags: tuple[str, ...],
           follow_links: bool, ray_address: str | None, index_dir: str, model: str | None) -> None:
    """Read text, Markdown, HTML, PDF, Word and PowerPoint files (folders recursively) into the index."""
    from qa.index import Index
    from qa.ingest import ingest as run_ingest
    from qa.metadata import check_collection, clean_tags

    if watch and not all(path.is_dir() for path in paths):
        raise click.UsageError("--watch keeps folders in step: give folders, not files.")
    placement = {"collection": check_collection(collection, "--collection"),
                 "tags": clean_tags(list(tags), "--tag") if tags else None, "follow_links": follow_links}
    index = Index(index_dir, model, create=True)
    if watch:
        watch_folders(index, list(paths), **placement)
        return
    if ray_address:  # read, chunked and embedded on the cluster; stored here, by this one writer
        from qa.cluster.ingest import ingest as run_on_cluster

        report = run_on_cluster(index, list(paths), ray_address, prune=prune, progress=not quiet, **placement)
    else:
        report = run_ingest(index, list(paths), prune=prune, progress=not quiet, **placement)
    for source, reason in report.failed + report.skipped:
        click.echo(f"skipped {source}: {reason}", err=True)
    for source in report.empty:
        click.echo(f"skipped {source}: no text", err=True)
    for source, page, problem in report.unread_pages:
        click.echo(f"{source}, page {page}: {problem}", err=True)
    pages = (f"; {report.pages} pages parsed at {report.pages_per_second:.0f} pages/s a worker, "
             f"{report.parse_wait_seconds:.1f}s spent waiting on parsing") if report.pages else ""
    # The rate is the embedding's (what the progress bar showed); the model's start-up is given apart:
    # on a small folder it is most of the run ("15 passages embedded in 9.2s (2 passages/s)" before).
    embedded = (f"{report.passages} passages embedded in {report.embedding_seconds:.1f}s "
                f"({report.embedding_rate:.0f} passages/s), after {report.startup_seconds:.1f}s of start-up "
                f"(model and index loaded, first files read); {report.seconds:.1f}s in all"
                if report.passages else f"no passages embedded; {report.seconds:.1f}s in all")
    click.echo(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, {report.removed} removed"
        f"{f', {len(report.skipped)} skipped' if report.skipped else ''}; "
        f"{embedded}{pages} -> {index_dir}"
    )


def watch_folders(index, folders: list[Path], **placement) -> None:
    """Sync until Ctrl-C (or SIGTERM); the sync under way when it comes is finished first."""
    import signal
    import threading

    from qa.watch import watch

    stop = threading.Event()

    def request_stop(signum, frame) -> None:
        click.echo("stopping after the current sync (Ctrl-C again to stop at once)", err=True)
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    watch(index, folders, stop=stop, echo=lambda line: click.echo(line, err=True), **placement)


@main.command()
@click.argument("question")
@click.option("--top-k", default=5, show_default=True, type=click.IntRange(1, 50))
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")
@collection_option
@click.option("--source", metavar="GLOB", help="Only documents whose source matches, e.g. 'reports/*.pdf'.")
@click.option("--document-id", "document_ids", multiple=True, metavar="ID", help="Only this document (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="Only documents with this tag (repeatable: any of them).")
@click.option("--all-tags", is_flag=True, help="Only documents with every --tag given.")
@click.option("--type", "types", multiple=True, metavar="TYPE", help="Only documents of this format (repeatable).")
@click.option("--after", metavar="YYYY-MM-DD", help="Only documents dated on or after this day.")
@click.option("--before", metavar="YYYY-MM-DD", help="Only documents dated on or before this day.")
@index_option
@model_option
@engine_options
@friendly_errors
def ask(question: str, top_k: int, as_json: bool, collection: str, source: str | None, document_ids: tuple[str, ...],
        tags: tuple[str, ...], all_tags: bool, types: tuple[str, ...], after: str | None, before: str | None,
        index_dir: str, model: str | None) -> None:
    """Ask one question; print the passages that answer it, with citations."""
    from qa.service import Service, answer_body

    given = {"source": source, "document_ids": list(document_ids) or None, "tags": list(tags) or None,
             "tags_match": "all" if all_tags else None, "type": list(types) or None, "after": after, "before": before}
    filter = {key: value for key, value in given.items() if value is not None}
    service = Service(settings.resolve({"INDEX": index_dir, "MODEL": model}))
    answer = service.ask(question, top_k, collection=collection, filter=filter or None)
    if as_json:
        click.echo(json.dumps(answer_body(answer), ensure_ascii=False, indent=2))
        return
    if answer.message:
        click.echo(answer.message)
    elif not answer.passages:
        click.echo("No passage matches this question.")
    elif not answer.confident:
        # The passages are the nearest the documents come, never an answer: say so first.
        click.secho("Not found in these documents.", bold=True)
        for reason in answer.confidence_reasons:
            click.echo(f"  - {reason}")
        click.echo(f"Closest matches (confidence {answer.confidence:.2f}):\n")
    for hit in answer.passages:
        c = hit.citation
        click.secho(f"[{hit.rank}] {(c.card or {}).get('name') or c.title}", bold=True)
        where = (f"page {c.pages[0]}" if c.pages and c.pages[0] == c.pages[1] else
                 f"pages {c.pages[0]}-{c.pages[1]}" if c.pages else f"section {c.section!r}" if c.section else "")
        labels = c.page_labels or [None, None]
        if c.pages and labels[0] and labels[0] != str(c.pages[0]):  # a cover, roman numerals: say what is printed
            where += f" (printed {labels[0]}" + (f"-{labels[1]})" if c.pages[1] > c.pages[0] and labels[1] else ")")
        click.echo(f"    {c.source}, {where + ', ' if where else ''}passage {c.passage}, characters {c.start}-{c.end}, "
                   f"score {hit.score:.4f}")
        relative = hit.highlight.start - c.start, hit.highlight.end - c.start
        text = hit.text[: relative[0]] + click.style(hit.text[relative[0] : relative[1]], fg="yellow") + hit.text[relative[1] :]
        if c.context:  # a table's rows, under its title and header rows
            click.secho(textwrap.indent(c.context, "    "), dim=True)
        click.echo(textwrap.indent(text, "    "))
        click.echo()
    click.echo(f"({answer.took_ms:.0f} ms)", err=True)


@main.command()
@click.option("--host", envvar="QA_HOST", default=settings.DEFAULTS["HOST"], show_default=True)
@click.option("--port", envvar="QA_PORT", default=settings.DEFAULTS["PORT"], show_default=True, type=int)
@click.option("--threads", envvar="QA_THREADS", default=settings.DEFAULTS["THREADS"], show_default=True, type=int,
              help="Request threads in each server process.")
@click.option("--workers", envvar="QA_WORKERS", default=None, type=click.IntRange(1, 256),
              help="Server processes (env QA_WORKERS) sharing the index; default: one per core. 1 serves from "
                   "this process (waitress); more, from a gunicorn master's worker processes.")
@ray_option
@click.option("--replicas", default=2, show_default=True, type=click.IntRange(1, 256),
              help="With --ray: replicas of the app behind Ray Serve.")
@click.option("--shards", default=0, show_default=True, type=click.IntRange(0, 1024),
              help="With --ray: split FAISS and BM25 over this many shard actors (0: each replica holds them).")
@index_option
@model_option
@engine_options
@friendly_errors
def serve(host: str, port: int, threads: int, workers: int | None, ray_address: str | None, replicas: int,
          shards: int, index_dir: str, model: str | None) -> None:
    """Serve the JSON API and the chat page: a process per core (gunicorn's prefork workers), one
    process with --workers 1 (waitress), or with --ray, Ray Serve."""
    if ray_address:
        serve_on_cluster(ray_address, replicas, shards, host, port, index_dir, model)
        return

    from qa.hosts import exposure
    from qa.serving import default_workers
    from qa.serving import serve as run_server

    config = settings.resolve({"INDEX": index_dir, "MODEL": model, "HOST": host})
    if warning := exposure(config):
        click.secho(warning, fg="red", bold=True, err=True)
    run_server(config, host, port, threads, workers or default_workers(), echo=lambda line: click.echo(line, err=True))


def serve_on_cluster(address: str, replicas: int, shards: int, host: str, port: int, index_dir: str,
                     model: str | None) -> None:
    """The app behind Ray Serve until Ctrl-C or SIGTERM, then taken down (the cluster stays)."""
    import signal
    import threading

    from qa.cluster.connect import disconnect
    from qa.cluster.serve import deploy, undeploy

    config = settings.resolve({"INDEX": str(Path(index_dir).resolve()), "MODEL": model, "HOST": host})
    from qa.hosts import exposure

    if warning := exposure(config):
        click.secho(warning, fg="red", bold=True, err=True)
    url = deploy(config, address, replicas=replicas, host=host, port=port, shards=shards)
    click.echo(f"qa serving {index_dir} on {url} through Ray Serve: {replicas} replicas"
               f"{f', {shards} shards' if shards else ''} (qa cluster status shows them)", err=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda number, frame: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    undeploy()
    disconnect()


@main.group()
def cluster() -> None:
    """The Ray cluster qa runs on with --ray (pip install -e '.[ray]')."""


@cluster.command(name="status")
@click.option("--ray", "ray_address", envvar="QA_RAY_ADDRESS", default="auto", show_default=True, metavar="ADDRESS",
              help="The cluster: auto, or its head's HOST:PORT (env QA_RAY_ADDRESS).")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@index_option
@friendly_errors
def cluster_status(ray_address: str, as_json: bool, index_dir: str) -> None:
    """Nodes, replicas, shards, and the index generation on each."""
    from qa.cluster.status import describe, status

    found = status(ray_address, index_dir)
    click.echo(json.dumps(found, indent=2) if as_json else "\n".join(describe(found)))


@main.command(name="mcp")
@index_option
@model_option
@engine_options
@friendly_errors
def mcp_command(index_dir: str, model: str | None) -> None:
    """Serve the index to an AI agent over MCP on stdin/stdout (add this command to the agent's config)."""
    import threading

    from qa.mcp import run_stdio
    from qa.service import Service

    service = Service(settings.resolve({"INDEX": index_dir, "MODEL": model}))

    def warm_up() -> None:  # load the model while the client starts up, not on its first search
        try:
            service.warm_up()
        except QAError as error:  # e.g. the index is not built yet: each tool call says so too
            click.echo(f"warning: {error.message}", err=True)

    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    click.echo(f"qa MCP server on stdio for {index_dir}", err=True)
    run_stdio(service)


@main.command(name="eval")
@click.argument("set_dir", metavar="EVALSET_DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--top-k", default=10, show_default=True, type=click.IntRange(1, 50))
@click.option("--retriever", default=None,
              type=click.Choice(["hybrid", "hybrid+maxsim", "dense", "dense+maxsim", "bm25", "bm25+maxsim"]),
              help="A retriever, optionally followed by the MaxSim re-ranking (+maxsim). Default: hybrid+maxsim, "
                   "or hybrid when QA_RERANK=off.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
@click.option("--misses", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the questions not answered at rank 1 (default: EVALSET_DIR name + .misses.jsonl in the cwd).")
@model_option
@engine_options
@friendly_errors
def evaluate(set_dir: Path, top_k: int, retriever: str, as_json: bool, misses: Path | None, model: str | None) -> None:
    """Measure retrieval on an eval set (corpus/ + questions.jsonl): hit@1, hit@5, MRR@10."""
    from qa.evaluation import build_eval_index, evaluate as run_eval, load_questions

    questions = load_questions(set_dir)
    index = build_eval_index(set_dir, model, progress=not as_json)
    if retriever is None:
        retriever = "hybrid" if settings.load().rerank == "off" else "hybrid+maxsim"
    result = run_eval(index, questions, retriever=retriever, top_k=top_k, set_name=set_dir.resolve().name)
    misses = misses or Path(f"{set_dir.resolve().name}.misses.jsonl")
    misses.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in result.misses), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result.summary()))
        return
    for key, value in result.summary().items():
        click.echo(f"{key:>18}  {value}")
    click.echo(f"{'misses':>18}  {misses}")


@main.command()
@click.option("--remove", "remove_id", metavar="ID", help="Remove the document with this id.")
@collection_option
@index_option
@model_option
@engine_options
@friendly_errors
def documents(remove_id: str | None, collection: str, index_dir: str, model: str | None) -> None:
    """List the documents of a collection with their type, date and tags, or remove one."""
    from qa.index import Index

    index = Index(index_dir, model)
    if remove_id:
        if index.store.document(remove_id) is None:
            raise click.ClickException(f"No document has the id {remove_id!r}.")
        change = index.remove_document(remove_id)
        index.save_vectors()
        click.echo(f"removed {remove_id} ({len(change.removed)} passages)")
        return
    for document in index.store.documents(collection):
        pages = f"{document['page_count']:4d} pages" if document["page_count"] else " " * 10
        tags = f"  [{', '.join(document['tags'])}]" if document["tags"] else ""
        click.echo(f"{document['id']}  {document['type']:4}  {document['date'] or '-':10}  {document['passages']:5d} "
                   f"passages  {pages}  {document['source']}  {document['name'] or document['title']}{tags}")
        for unread in document["unread_pages"]:
            click.echo(f"    page {unread['number']} not read: {unread['problem']}")
    others = {name: count for name, count in index.store.collections().items() if name != collection}
    if others:
        click.echo(f"other collections (--collection NAME): "
                   f"{', '.join(f'{name} ({count} documents)' for name, count in others.items())}", err=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
