"""The chat page: web/ shipped inside the package as qa.web, served at / and /static/."""
from __future__ import annotations

import importlib.resources
import mimetypes

from flask import Blueprint, Response, abort

bp = Blueprint("pages", __name__)

ASSETS = {"app.js", "style.css"}


def read_asset(name: str) -> bytes:
    return importlib.resources.files("qa.web").joinpath(name).read_bytes()


@bp.get("/")
def index() -> Response:
    return Response(read_asset("index.html"), mimetype="text/html")


@bp.get("/static/<name>")
def static(name: str) -> Response:
    if name not in ASSETS:  # an allow-list: nothing else in the package is served
        abort(404)
    response = Response(read_asset(name), mimetype=mimetypes.guess_type(name)[0])
    response.cache_control.no_cache = True  # revalidate, so a new release is picked up
    return response
