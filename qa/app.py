"""create_app(config=None): the Flask application (the JSON API, and the chat page at /)."""
from __future__ import annotations

from flask import Flask

from qa import logs, settings
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


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config.update(settings.resolve(config))
    app.json.sort_keys = False  # keep fields in the documented order
    app.extensions["qa"] = Service(app.config)
    app.register_blueprint(api_blueprint)
    app.register_blueprint(pages_blueprint)
    register_error_handlers(app)
    logs.init_app(app)
    app.after_request(security_headers)
    return app


def security_headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
