"""The benchmarks' floor: a Flask app that returns one fixed body on the endpoint's route.

It is served by the mock's own gunicorn setup (``server.serve``) with the same workers and
threads as the service it is compared with, so the difference between the two is the
endpoint's own work: authentication, validation, the query and serialization.

Usage: python bench/floor.py --body FILE --port N [--workers N] [--threads N]
"""

import argparse
import os
import sys

from flask import Flask, Response

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import server  # noqa: E402  (the project root is on the path only from here on)


def create_floor_app(body):
    """Build a Flask app that returns ``body`` for every step-results request."""
    app = Flask(__name__)

    @app.get("/v1/records/<path:record_id>/step-results")
    def fixed_body(record_id):
        return Response(body, mimetype="application/json")

    return app


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python bench/floor.py", description=__doc__.splitlines()[0])
    parser.add_argument("--body", required=True, help="file whose bytes every response carries")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="TCP port")
    parser.add_argument("--workers", type=int, default=server.DEFAULT_WORKERS, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=server.DEFAULT_THREADS, help="threads per worker")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    arguments = parser.parse_args(argv)

    with open(arguments.body, "rb") as file:
        body = file.read()
    return server.serve(create_floor_app(body), arguments)


if __name__ == "__main__":
    sys.exit(main())
