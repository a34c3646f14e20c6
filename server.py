"""Serve the app through gunicorn, a production WSGI server, for the command line.

Gunicorn stops gracefully on SIGTERM (requests in flight finish) and at once on Ctrl-C.
"""

import logging

from gunicorn.app.base import BaseApplication

logger = logging.getLogger("runtype_mock")

# One process with threads keeps every request on one SQLite connection pool and one
# copy of the in-memory state; the threads overlap the time spent in SQLite and on sockets.
DEFAULT_WORKERS = 1
DEFAULT_THREADS = 8


class MockServer(BaseApplication):
    """A gunicorn application that serves an already built Flask app."""

    def __init__(self, app, options):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self):
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self):
        return self.application


def bind_address(host, port):
    """Return gunicorn's bind string; IPv6 addresses need brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def serve(app, arguments):
    """Serve ``app`` until the process gets SIGTERM or SIGINT."""
    options = {
        "bind": bind_address(arguments.host, arguments.port),
        "workers": getattr(arguments, "workers", None) or DEFAULT_WORKERS,
        "threads": getattr(arguments, "threads", None) or DEFAULT_THREADS,
        "worker_class": "gthread",
        "graceful_timeout": 10,
        "loglevel": arguments.log_level.lower(),
        "when_ready": announce_address,
        # Gunicorn's control socket has one default path per user, so a second mock
        # running at the same time would take it over and remove it on exit.
        "control_socket_disable": True,
    }
    MockServer(app, options).run()


def announce_address(arbiter):
    for listener in arbiter.LISTENERS:
        host, port = listener.getsockname()[:2]
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        logger.info("Serving on %s", url)
        print(f"Serving on {url}", flush=True)
