"""create_app(config=None): the Flask application (the JSON API, and the chat page at /)."""
from __future__ import annotations

from flask import Flask

from qa import settings
from qa.api import bp as api_blueprint
from qa.api import register_error_handlers
from qa.service import Service


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.config.update(settings.resolve(config))
    app.json.sort_keys = False  # keep fields in the documented order
    app.extensions["qa"] = Service(app.config)
    app.register_blueprint(api_blueprint)
    register_error_handlers(app)
    return app
