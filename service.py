"""A local, stateful stand-in for the Runtype API's ``GET /v1/records/{id}/step-results``.

Run ``python service.py --help`` for the command line; ``create_app`` builds the Flask app
for tests and for the WSGI server.
"""

import argparse
import logging
import os
import sys

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException, InternalServerError

import admin
import admin_cli
import demo
import docs
import fixtures
import models
import schemas
import server

logger = logging.getLogger("runtype_mock")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_DATABASE = os.path.join("data", "runtype.db")
READ_PERMISSION = "records:read"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ApiError(HTTPException):
    """An error response with a JSON body of ``{"error": ..., "details": ...}``."""

    def __init__(self, code, message, *, details=None, headers=None):
        super().__init__(description=message)
        self.code = code
        self.details = details
        self.extra_headers = headers or {}


def create_app(config=None):
    """Build the app over the SQLite database named by ``config["DATABASE"]``.

    Other settings: ``FIXTURES``, fixture files to load at start; ``SEED_DEMO``, True or
    False to force seeding the demo data set, or None (the default) to seed a new, empty
    database only when no fixture is given.

    :raise fixtures.FixtureError: when a fixture is invalid; nothing of it is stored.
    """
    app = Flask(__name__)
    app.config.update(DATABASE=DEFAULT_DATABASE, FIXTURES=[], SEED_DEMO=None)
    if config:
        app.config.update(config)

    # the API's field order is part of the contract, so keys are never sorted
    app.json.sort_keys = False
    app.json.compact = True

    prepare_database(app.config["DATABASE"], app.config["FIXTURES"], app.config["SEED_DEMO"])
    register_database_hooks(app)
    register_query_string_check(app)
    register_request_logging(app)
    register_error_handlers(app)
    register_cors(app)
    # Merging slashes would respond to an id sent as "a%2F" or "a%2F%2Fb" with a redirect to
    # another record's path, so it is off.
    # NOTE: werkzeug's path converter never matches an id that starts with "/" (sent as
    # %2F...); such a request gets the JSON 404 for an unknown path.
    app.add_url_rule(
        "/v1/records/<path:record_id>/step-results", view_func=get_step_results, methods=["GET"],
        merge_slashes=False,
    )
    docs.init_app(app)
    admin.init_app(app)
    return app


def prepare_database(path, fixture_paths=(), seed_demo=None):
    """Open the database, seed the demo data if asked, then load the fixture files in order."""
    models.init_database(path)

    with models.database.connection_context():
        if seed_demo is None:
            seed_demo = models.is_empty() and not fixture_paths

        # one transaction for the whole start, so that one invalid fixture file stores
        # nothing of the files before it either
        loaded = []
        with models.database.atomic():
            if seed_demo:
                loaded.append(("the demo data set", fixtures.load_fixture(demo.build_demo_fixture())))
            for fixture_path in fixture_paths:
                loaded.append((fixture_path, fixtures.load_fixture_file(fixture_path)))

        # logged only once the transaction has committed
        for name, counts in loaded:
            logger.info(
                "Loaded %s: %d API keys, %d records, %d step results",
                name, counts["apiKeys"], counts["records"], counts["stepResults"],
            )

        logger.info(
            "Database %s contains %d records and %d step results",
            path, models.Record.select().count(), models.StepResult.select().count(),
        )


def register_database_hooks(app):
    # Each thread keeps its connection open for its next request. Opening one costs more
    # than the endpoint's query, and closing the last one makes SQLite checkpoint the WAL.
    @app.before_request
    def open_connection():
        models.database.connect(reuse_if_open=True)


def register_query_string_check(app):
    # werkzeug 3.1 decodes the raw query string as strict UTF-8 when request.args is first
    # read, so other bytes would be a 500 in whichever hook or view reads it first.
    @app.before_request
    def reject_undecodable_query_string():
        try:
            request.query_string.decode("utf-8")
        except UnicodeDecodeError as error:
            logger.info("Rejected a query string that is not UTF-8 for %s", request.path)
            raise ApiError(
                400,
                f"Invalid query string: the byte at position {error.start} is not UTF-8;"
                " percent-encode non-ASCII characters as UTF-8, e.g. %C3%A9 for é",
            ) from None


def register_request_logging(app):
    # Method, path, query and status only: headers are left out because they carry API keys.
    @app.after_request
    def log_request(response):
        logger.debug(
            "%s %s %s -> %d", request.method, request.path, request.query_string.decode("latin-1"), response.status_code
        )
        return response


# -- the endpoint ---------------------------------------------------------------------------


def get_step_results(record_id):
    """Return one page of a record's step results.

    :raise 401: when the Authorization header is missing or malformed, or the key is unknown.
    :raise 403: when the key lacks the ``records:read`` permission.
    :raise 400: when a query parameter is invalid.
    :raise 404: when the key's organization has no record ``record_id``.
    """
    api_key = authenticate(request.headers.get("Authorization"))
    if not api_key.grants(READ_PERMISSION):
        logger.info("Rejected request of user %s: key lacks %s", api_key.user_id, READ_PERMISSION)
        raise ApiError(403, f"Forbidden: this API key lacks the '{READ_PERMISSION}' permission")

    try:
        arguments = schemas.load_query(request.args)
    except schemas.QueryParameterError as error:
        logger.info("Rejected query for record %r: %s", record_id, error.message)
        raise ApiError(400, error.message, details=error.details) from None

    record = models.find_record(record_id, api_key.organization_id)
    if record is None:
        logger.info("Record %r not found in organization %s", record_id, api_key.organization_id)
        raise ApiError(404, f"Record {schemas.show(record_id)} not found")

    rows = models.fetch_step_results(record.id, arguments)
    page = rows[: arguments["limit"]]
    pagination = {
        "limit": arguments["limit"],
        "offset": arguments["offset"],
        "returned": len(page),
        "has_more": len(rows) > arguments["limit"],
    }
    return jsonify(
        data=schemas.STEP_RESULT_LIST.dump(page), pagination=schemas.PAGINATION.dump(pagination)
    )


def authenticate(header):
    """Return the stored API key named by an Authorization header value.

    ``Bearer <key>`` is accepted with the scheme in any case, and so is a bare ``<key>``,
    the form the live documentation shows.

    :raise 401: when the header is missing or malformed, or the key is unknown or revoked.
    """
    challenge = {"WWW-Authenticate": 'Bearer realm="runtype-mock"'}
    if header is None or not header.strip():
        raise ApiError(
            401, "Missing Authorization header; send 'Authorization: Bearer <API key>'", headers=challenge
        )

    parts = header.split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        key = parts[1]
    elif len(parts) == 1 and parts[0].lower() != "bearer":
        key = parts[0]
    else:
        raise ApiError(
            401, "Malformed Authorization header; expected 'Bearer <API key>'", headers=challenge
        )

    api_key = models.find_api_key(key)
    if api_key is None:
        logger.info("Rejected an unknown or revoked API key")
        raise ApiError(401, "Invalid API key: it is unknown or revoked", headers=challenge)
    g.api_key = api_key
    return api_key


# -- errors and CORS ---------------------------------------------------------------------------


def register_error_handlers(app):
    @app.errorhandler(HTTPException)
    def handle_http_error(error):
        # Start from the error's own response, so that headers such as Allow on 405 survive.
        response = error.get_response()
        body = {"error": error.description if isinstance(error, ApiError) else _standard_message(error)}
        if getattr(error, "details", None):
            body["details"] = error.details

        response.data = app.json.dumps(body, separators=(",", ":"))
        response.content_type = "application/json"
        response.headers.update(getattr(error, "extra_headers", {}))
        return response

    @app.errorhandler(InternalServerError)
    def handle_internal_error(error):
        # Flask has already logged the traceback; the client learns nothing more.
        response = jsonify(error="Internal server error")
        response.status_code = 500
        return response


def _standard_message(error):
    if error.code == 404:
        return f"Not found: no route for {request.method} {schemas.show(request.path)}"
    if error.code == 405:
        allowed = ", ".join(error.valid_methods or ())
        return f"Method {request.method} not allowed; allowed: {allowed}"
    return f"{error.name}: {error.description}"


EXPOSED_HEADERS = "Retry-After, Retry-After-Ms, Preference-Applied, WWW-Authenticate, Allow"


def register_cors(app):
    # Browser pages on other local origins may call the API; no cookies are involved, so
    # echoing the origin is safe.
    @app.after_request
    def add_cors_headers(response):
        origin = request.headers.get("Origin")
        response.headers["Access-Control-Allow-Origin"] = origin or "*"
        response.headers.add("Vary", "Origin")
        # Scripts may read these, e.g. to test a client's retry logic against a fault.
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = request.headers.get(
                "Access-Control-Request-Headers", "Authorization"
            )
            response.headers["Access-Control-Max-Age"] = "600"

        # Flask labels every response as HTML by default; an empty body has no type.
        if not response.content_length and response.mimetype == "text/html" and not response.is_streamed:
            del response.headers["Content-Type"]
        return response


# -- command line ------------------------------------------------------------------------------


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        prog="python service.py",
        description="Serve a local mock of the Runtype API's GET /v1/records/{id}/step-results.",
        epilog="To change a database without serving it: 'python service.py load FILE... [--db PATH]'"
        " or 'python service.py reset [--demo] [--db PATH]'.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument(
        "--port", type=port_number, default=DEFAULT_PORT,
        help=f"TCP port from 0 to 65535; 0 picks a free one (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--db", default=DEFAULT_DATABASE,
        help=f"SQLite database file, created when missing (default {DEFAULT_DATABASE})",
    )
    parser.add_argument(
        "--fixture", action="append", default=[], metavar="FILE",
        help="JSON fixture file to load at start; repeat to load several, in order",
    )
    parser.add_argument(
        "--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS,
        help="logging level (default INFO; DEBUG logs each request)",
    )
    admin_cli.add_server_arguments(parser)
    parser.add_argument(
        "--workers", type=positive_integer, metavar="N",
        help=f"gunicorn worker processes (default {server.DEFAULT_WORKERS}, the fastest on 2 cores; see BENCHMARKS.md)",
    )
    parser.add_argument(
        "--threads", type=positive_integer, metavar="N",
        help=f"threads per worker process (default {server.DEFAULT_THREADS})",
    )
    return parser.parse_args(argv)


def port_number(text):
    """Parse a TCP port number, 0 to 65535, for argparse."""
    if not text.isascii() or not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return int(text)


def positive_integer(text):
    """Parse an integer of 1 or more for argparse."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer of 1 or more, got {text!r}")
    return int(text)


def configure_logging(level):
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in admin_cli.COMMANDS:
        return admin_cli.run_command(argv, DEFAULT_DATABASE)

    arguments = parse_arguments(argv)
    configure_logging(arguments.log_level)
    # Checked before the database is touched, so a busy port leaves nothing half done.
    problem = admin_cli.check_server_arguments(arguments) or server.bind_problem(arguments.host, arguments.port)
    if problem:
        logger.error("%s", problem)
        return 2

    try:
        app = create_app(
            {"DATABASE": arguments.db, "FIXTURES": arguments.fixture, **admin_cli.app_settings(arguments)}
        )
    except fixtures.FixtureError as error:
        logger.error("Fixtures not loaded, nothing was stored: %s", error)
        return 2
    except models.DatabaseOpenError as error:
        logger.error("Cannot use the database given by --db: %s", error)
        return 2

    with models.database.connection_context():
        if models.find_api_key(demo.DEMO_API_KEY) is not None:
            print(f"Demo API key: {demo.DEMO_API_KEY}", flush=True)

    return server.serve(app, arguments)


if __name__ == "__main__":
    sys.exit(main())
