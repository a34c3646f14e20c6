"""Serve the app through gunicorn, a production WSGI server, for the command line.

Gunicorn stops gracefully on SIGTERM (requests in flight finish) and at once on Ctrl-C.
"""

import errno
import logging
import os
import socket

from gunicorn.app.base import BaseApplication

import gunicorn_errors

logger = logging.getLogger("runtype_mock")

# Two processes use both cores of a 2-core machine, which one process cannot because of
# Python's GIL: at 4 connections they served about 2.5 times the requests of one process
# with 8 threads (bench/run.py, phase configs; see BENCHMARKS.md). Faults and the journal
# live in SQLite, so every process sees the same ones. Eight threads per process keep
# threads free while a few connections hold one each (see the NOTE below).
DEFAULT_WORKERS = 2
DEFAULT_THREADS = 8
# NOTE: gunicorn 27 gives a new connection a thread for up to 5 s while it waits for the
# request, and a client that stops part-way through its request line or headers keeps the
# thread until it disconnects. More such connections than threads delay every request.


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
    ready_file = getattr(arguments, "ready_file", None)
    if ready_file:
        ready_file = os.path.abspath(ready_file)
        # A file left by an earlier run would tell a waiting test that this one is ready.
        remove_ready_file(ready_file)
        options["post_worker_init"] = lambda worker: write_ready_file(ready_file, worker.sockets)
        options["on_exit"] = lambda arbiter: remove_ready_file(ready_file)
    gunicorn_errors.install()
    MockServer(app, options).run()


def announce_address(arbiter):
    for listener in arbiter.LISTENERS:
        url = listener_url(listener)
        logger.info("Serving on %s", url)
        print(f"Serving on {url}", flush=True)


def listener_url(listener):
    host, port = listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def write_ready_file(path, listeners):
    """Write the first listener's URL to ``path`` once a worker accepts requests.

    The text goes to a temporary file that is then renamed, so a reader never sees a
    partial URL. Every worker writes the same URL.
    """
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(listener_url(listeners[0]) + "\n")
    os.replace(temporary, path)
    logger.info("Wrote the ready file %s", path)


def remove_ready_file(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def bind_problem(host, port):
    """Return why the server could not listen on ``host`` and ``port``, or None if it can.

    Gunicorn would retry a busy port for five seconds and then exit with a terse message.
    """
    if port == 0:
        return None

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"Port {port} on {host} is already in use; choose another with --port, or --port 0 for a free one"
            return f"Cannot listen on {host} port {port}: {error.strerror or error}"
    return None
