"""qa as an MCP server (the official `mcp` SDK): the tools of qa/agent_tools.py over stdio
(`qa mcp`, for desktop agents) and over Streamable HTTP at /mcp on `qa serve`'s address.

`qa serve` is a WSGI server (waitress) and the SDK's HTTP transport is ASGI, so /mcp goes through
a2wsgi's ASGIMiddleware, which runs the ASGI app on an event loop in a thread of its own. a2wsgi
does not run ASGI lifespans, so the session manager's task group is entered here, on that loop,
for the life of the process. The transport runs stateless with JSON responses: every MCP request
is one HTTP request answered at once, so no waitress thread is held by a long-lived event stream.

The SDK is imported only when MCP is first used: `create_app` stays as quick as before.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field

from qa import agent_tools, auth
from qa.errors import QAError
from qa.service import Service

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context, MCPServer

PATH = "/mcp"
CALLER = "qa.caller"  # the WSGI environ key holding the auth.Caller of an /mcp request

INSTRUCTIONS = (
    "qa searches the user's own documents and returns quoted passages with citations; it never writes "
    "an answer itself. Use `search` first for any question the documents might answer, answer from the "
    "returned passage text only, and cite each passage's title, source and page. When `confident` is "
    "false, say the documents do not answer the question rather than guessing from the closest matches."
)

SEARCH = (
    "Search the user's documents for passages that answer a question. Returns up to top_k passages, best "
    "first, each quoted verbatim with a score and a citation (document id, title, source file, page or "
    "pages, character offsets). The passages are the documents' own words, not generated text: quote "
    "and cite them. `confident` is false when the best passage probably does not answer the question "
    "(confidence_reasons says why): then tell the user the documents do not say, and do not answer from "
    "the closest matches. Ask in natural language, one question per call; use get_document to read "
    "around a passage."
)
LIST_DOCUMENTS = (
    "List the documents that search looks through: id, title, source file, type (txt, md, html, pdf, "
    "docx, pptx), number of passages and pages. Use it to see what the documents cover, or to find a "
    "document's id for get_document; use search, not this list, to answer questions."
)
GET_DOCUMENT = (
    "Read a document's text by id (from search or list_documents). With start and end (a citation's "
    "offsets) it returns that range widened by `context` characters on each side, to read a passage in "
    "its setting; without them, the document from the beginning. At most 20,000 characters come back "
    "per call: `truncated` says there is more, and start/end/length say where this text lies."
)
LIST_COLLECTIONS = (
    "List the collections (separate sets of documents) this server holds; pass one as `collection` to "
    "search or list_documents. Most servers have only \"default\"."
)

# The inputs, described for the model that fills them in.
Question = Annotated[str, Field(description="The question, in natural language.")]
TopK = Annotated[int, Field(ge=1, le=50, description="How many passages to return (1-50).")]
Collection = Annotated[str | None, Field(description="Search only this collection (see list_collections); "
                                                     "omit for the default.")]
Filter = Annotated[dict[str, Any] | None, Field(description=(
    "Restrict the search to some documents of the collection (every field given must hold): "
    "source (a glob over the file path, e.g. \"reports/*.pdf\"), document_ids (a list), tags (a list) with "
    "tags_match \"any\" (default) or \"all\", type (txt, md, html, pdf, docx or pptx, or a list of them), "
    "after / before (YYYY-MM-DD, inclusive). Omit to search the whole collection."))]
DocumentId = Annotated[str, Field(description="The document's id, e.g. citation.document_id from search.")]
Start = Annotated[int | None, Field(description="First character to read (e.g. citation.start).")]
End = Annotated[int | None, Field(description="End of the range, exclusive (e.g. citation.end).")]
Around = Annotated[int, Field(ge=0, le=agent_tools.MAX_CONTEXT_CHARS,
                              description="Characters to add on each side of start..end.")]


def build_server(service: Service) -> MCPServer:
    """The MCP server: four read-only tools over `service`."""
    global Context  # the SDK finds a tool's Context parameter by resolving its annotations in this module
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp_types import ToolAnnotations

    import qa

    server = MCPServer("qa", title="qa: cited passages from your documents", instructions=INSTRUCTIONS,
                       version=getattr(qa, "__version__", "") or "0.1.0", log_level="WARNING")
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True)

    def call(function, ctx: Context, *args):
        """An error of ours reaches the model as a tool error with the API's message. Over HTTP the
        caller is the one Mount checked (its collections bound the tools); over stdio there is none."""
        request = ctx.request_context.request
        caller = request.scope.get("wsgi_environ", {}).get(CALLER) if request is not None else None
        try:
            return function(service, *args, caller=caller)
        except QAError as error:
            raise ToolError(error.message) from None

    @server.tool(description=SEARCH, annotations=read_only)
    def search(ctx: Context, question: Question, top_k: TopK = 5, collection: Collection = None,
               filter: Filter = None) -> agent_tools.SearchResult:
        return call(agent_tools.search, ctx, question, top_k, collection, filter)

    @server.tool(description=LIST_DOCUMENTS, annotations=read_only)
    def list_documents(ctx: Context, collection: Collection = None) -> agent_tools.DocumentList:
        return call(agent_tools.list_documents, ctx, collection)

    @server.tool(description=GET_DOCUMENT, annotations=read_only)
    def get_document(ctx: Context, document_id: DocumentId, start: Start = None, end: End = None,
                     context: Around = agent_tools.DEFAULT_CONTEXT_CHARS) -> agent_tools.DocumentText:
        return call(agent_tools.get_document, ctx, document_id, start, end, context)

    @server.tool(description=LIST_COLLECTIONS, annotations=read_only)
    def list_collections(ctx: Context) -> agent_tools.Collections:
        return call(agent_tools.list_collections, ctx)

    return server


def run_stdio(service: Service) -> None:
    """Serve over stdin/stdout until the client closes them. Nothing else may write to stdout."""
    build_server(service).run("stdio")


class HTTPBridge:
    """The Streamable HTTP transport as a WSGI app (see the module docstring)."""

    def __init__(self, service: Service, host: str):
        from a2wsgi import ASGIMiddleware
        from mcp.server.transport_security import TransportSecuritySettings

        server = build_server(service)
        # Host and Origin are checked for every route, /mcp included, before the request gets here
        # (qa/hosts.py): the SDK's own check would be a second rule to keep in step.
        security = TransportSecuritySettings(enable_dns_rebinding_protection=False)
        app = server.streamable_http_app(streamable_http_path=PATH, stateless_http=True, json_response=True,
                                         transport_security=security, host=host)
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="mcp-http", daemon=True).start()
        started: concurrent.futures.Future = concurrent.futures.Future()
        asyncio.run_coroutine_threadsafe(self._hold_sessions(server, started), self.loop)
        started.result(timeout=30)
        self.wsgi = ASGIMiddleware(app, loop=self.loop)

    @staticmethod
    async def _hold_sessions(server: MCPServer, started: concurrent.futures.Future) -> None:
        async with server.session_manager.run():
            started.set_result(None)
            await asyncio.Event().wait()  # until the process ends

    def __call__(self, environ, start_response):
        return self.wsgi(environ, start_response)


class Mount:
    """The app's WSGI entry with /mcp sent to the MCP bridge behind the API's read token;
    everything else goes to the Flask app as before. The bridge is built on the first /mcp
    request, or by start() (`qa serve` calls it, so the first client does not wait)."""

    def __init__(self, app):
        self.app = app
        self.flask_wsgi = app.wsgi_app
        self._bridge: HTTPBridge | None = None
        self._lock = threading.Lock()

    def start(self) -> HTTPBridge:
        if self._bridge is None:
            with self._lock:
                if self._bridge is None:
                    host = str(self.app.config.get("HOST") or "127.0.0.1")
                    self._bridge = HTTPBridge(self.app.extensions["qa"], host)
        return self._bridge

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").rstrip("/") != PATH:
            return self.flask_wsgi(environ, start_response)
        try:
            environ[CALLER] = auth.check("read", self.app.config, environ.get("HTTP_AUTHORIZATION"))
        except QAError as error:
            return error_response(error, start_response)
        environ["PATH_INFO"] = PATH
        return self.start()(environ, start_response)


def mount(app) -> None:
    app.wsgi_app = app.extensions["mcp"] = Mount(app)


def error_response(error: QAError, start_response):
    """The API's JSON error body, for a request refused before it reaches MCP."""
    body = json.dumps({"error": {"code": error.code, "message": error.message}}).encode()
    start_response(f"{error.status_code} {HTTPStatus(error.status_code).phrase}",
                   [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *error.headers.items()])
    return [body]
