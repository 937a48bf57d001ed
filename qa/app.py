"""create_app(config=None): the Flask application (the JSON API, and the chat page at /)."""
from __future__ import annotations

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from qa import auth, hosts, logs, mcp, settings
from qa.api import bp as api_blueprint
from qa.api import register_error_handlers
from qa.pages import bp as pages_blueprint
from qa.service import Service

# The page loads only its own script and styles; documents are rendered as text, and this makes
# sure that even a mistake there could not run an injected script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class HTMLSafeJSON(DefaultJSONProvider):
    """JSON with < > & written as \\u003c \\u003e \\u0026: documents may hold markup, and this way no
    response body contains a tag even if a browser were to sniff it as HTML. Outside strings JSON
    never uses these characters, so the escaping cannot change the value."""
    sort_keys = False  # keep fields in the documented order

    def dumps(self, obj, **kwargs) -> str:
        return super().dumps(obj, **kwargs).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.json = HTMLSafeJSON(app)
    app.config.update(settings.resolve(config))
    if app.config.get("TOKENS_FILE"):
        auth.tokens_from(app.config["TOKENS_FILE"])  # a broken tokens file is named now, not on a request
    app.extensions["qa"] = Service(app.config)
    app.register_blueprint(api_blueprint)
    app.register_blueprint(pages_blueprint)
    register_error_handlers(app)
    logs.init_app(app)
    app.after_request(security_headers)
    mcp.mount(app)  # /mcp: the MCP Streamable HTTP transport, behind the same tokens
    # Outermost, so every route (API, page images, /mcp, the chat page) meets the one Host/Origin rule.
    app.wsgi_app = hosts.HostGuard(app.wsgi_app, str(app.config.get("HOST") or "127.0.0.1"))
    return app


def security_headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
