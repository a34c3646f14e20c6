"""Serve the API's description: ``/openapi.json``, interactive docs at ``/docs`` and a
landing page at ``/``.

The docs page is Swagger UI from the ``swagger-ui-bundle`` package, served by this app, so
the page works offline and loads nothing from any other host.
"""

from flask import Blueprint, abort, current_app, jsonify, render_template, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path

import admin
import demo
import models
import openapi

blueprint = Blueprint("docs", __name__, template_folder="templates")

DOCUMENT_PATH = "/openapi.json"
DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
OPENAPI_EXTENSION = "openapi_document"

# The Swagger UI files that the page loads; the package also ships source maps and others.
SWAGGER_UI_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-16x16.png", "favicon-32x32.png")

# Shown on the landing page: (what it does, path and query after the host).
EXAMPLE_REQUESTS = (
    ("The documented example record", f"/v1/records/{demo.DOCUMENTED_RECORD_ID}/step-results"),
    (
        "Failed steps of the busiest record, most expensive first",
        f"/v1/records/{demo.BUSIEST_RECORD_ID}/step-results?status=failed&sortBy=estimatedCost&sortOrder=desc",
    ),
    (
        "The second page of five, oldest first",
        f"/v1/records/{demo.BUSIEST_RECORD_ID}/step-results?sortOrder=asc&limit=5&offset=5",
    ),
)


def init_app(app):
    """Register the routes of the OpenAPI document, the docs page and the landing page."""
    app.register_blueprint(blueprint)


def get_document():
    """Return the app's OpenAPI document, built on first use and kept for the app's lifetime."""
    document = current_app.extensions.get(OPENAPI_EXTENSION)
    if document is None:
        # The admin API is described only where it is mounted (ADMIN_ENABLED).
        document = openapi.build_document(include_admin=admin.blueprint.name in current_app.blueprints)
        current_app.extensions[OPENAPI_EXTENSION] = document
    return document


def demo_key_loaded():
    """Tell whether the database contains the demo API key, so that the pages can offer it."""
    return models.find_api_key(demo.DEMO_API_KEY) is not None


@blueprint.get(DOCUMENT_PATH)
def openapi_document():
    """Return the OpenAPI 3 document of the API."""
    return jsonify(get_document())


@blueprint.get(DOCS_PATH)
def docs_page():
    """Return the Swagger UI page, authorized with the demo key when the database contains it."""
    return render_template(
        "docs.html",
        title=openapi.TITLE,
        assets_path=ASSETS_PATH,
        swagger_config={
            "url": DOCUMENT_PATH,
            "dom_id": "#swagger-ui",
            "deepLinking": True,
            # No online validator badge: it would send the document to another host.
            "validatorUrl": None,
            "displayRequestDuration": True,
        },
        security_scheme=openapi.SECURITY_SCHEME,
        demo_api_key=demo.DEMO_API_KEY if demo_key_loaded() else None,
    )


@blueprint.get(f"{ASSETS_PATH}/<filename>")
def docs_asset(filename):
    """Return one Swagger UI file shipped by the swagger-ui-bundle package."""
    if filename not in SWAGGER_UI_ASSETS:
        abort(404)
    return send_from_directory(swagger_ui_path, filename, max_age=3600)


@blueprint.get("/")
def landing_page():
    """Return links to the docs and example requests: HTML for a browser, JSON otherwise.

    A client that accepts JSON and HTML equally, such as curl with ``Accept: */*``, gets JSON.
    """
    base_url = request.host_url.rstrip("/")
    demo_api_key = demo.DEMO_API_KEY if demo_key_loaded() else None
    examples = [
        {"description": description, "url": base_url + path, "curl": build_curl(base_url + path, demo_api_key)}
        for description, path in EXAMPLE_REQUESTS
    ]

    preferred = request.accept_mimetypes.best_match(["application/json", "text/html"], default="application/json")
    if preferred == "text/html":
        response = current_app.make_response(
            render_template(
                "landing.html", title=openapi.TITLE, docs_path=DOCS_PATH, document_path=DOCUMENT_PATH,
                icon_path=f"{ASSETS_PATH}/favicon-32x32.png",
                endpoint=f"GET {openapi.STEP_RESULTS_PATH}", demo_api_key=demo_api_key, examples=examples,
            )
        )
    else:
        response = jsonify(
            name=openapi.TITLE,
            docs=base_url + DOCS_PATH,
            openapi=base_url + DOCUMENT_PATH,
            endpoints=[f"GET {openapi.STEP_RESULTS_PATH}"],
            demoApiKey=demo_api_key,
            examples=examples,
        )
    response.vary.add("Accept")
    return response


def build_curl(url, api_key):
    """Build a curl command line for ``url``, with the demo key or a placeholder."""
    return f"curl -H 'Authorization: Bearer {api_key or '<API key>'}' '{url}'"
