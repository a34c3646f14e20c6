"""Helpers of the reliability tests: the real server as a subprocess, fixture documents of
known size, and a dump of a database's rows to compare before and after a fault."""

import http.client
import json
import os
import pty
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from conftest import base_fixture, make_step_result

REPOSITORY = Path(__file__).resolve().parent.parent
SERVING_LINE = re.compile(r"Serving on (http://\S+)")
# scripts/reliability_figures.py sets it to collect the figures of RELIABILITY.md.
FIGURES_VARIABLE = "RELIABILITY_FIGURES"


class ServerProcess:
    """``python service.py`` in a subprocess on a free port of 127.0.0.1.

    Its standard output and error go to files, so that a chatty server never blocks on a
    full pipe and a test can read every log line afterwards.
    """

    def __init__(self, folder, database_path, *arguments):
        self.database_path = Path(database_path)
        self.stdout_path = Path(folder) / f"server-{time.monotonic_ns()}.out"
        self.stderr_path = self.stdout_path.with_suffix(".err")
        self.command = [
            sys.executable, "service.py", "--db", str(self.database_path), "--port", "0", *arguments,
        ]
        self.process = None
        self.url = None

    def start_process(self):
        """Start the server without waiting for it to serve."""
        with open(self.stdout_path, "wb") as stdout, open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(self.command, cwd=REPOSITORY, stdout=stdout, stderr=stderr)
        return self

    def start(self, timeout=60):
        """Start the server and wait until it announces its address.

        :raise AssertionError: when the server exits or stays silent for ``timeout`` seconds.
        """
        self.start_process()

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = SERVING_LINE.search(self.stdout())
            if match:
                self.url = match.group(1)
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}: {self.stderr()[-2000:]}")
            time.sleep(0.05)
        raise AssertionError(f"server announced no address within {timeout} s: {self.stderr()[-2000:]}")

    def stdout(self):
        return self.stdout_path.read_text(errors="replace")

    def stderr(self):
        return self.stderr_path.read_text(errors="replace")

    def stop(self, signal_number=signal.SIGTERM, timeout=30):
        """Send ``signal_number`` and return the exit code; kill the server if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal_number)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"server did not stop within {timeout} s of signal {signal_number}") from None

    def close(self):
        """Kill the server if it still runs; for test teardown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def record_figures(test, **counts):
    """Append what a test did to the file named by RELIABILITY_FIGURES, when it is set.

    :param counts: any of clients, requests, faults, bad_inputs, server_errors, rows_lost.
    """
    path = os.environ.get(FIGURES_VARIABLE)
    if path:
        with open(path, "a", encoding="utf-8") as file:
            file.write(json.dumps({"test": test, **counts}) + "\n")


class RawResponse:
    """Status, headers and body of a response read from a raw socket."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


def send_raw(url, request, timeout=10):
    """Send the bytes ``request`` as they are to the server at ``url`` and read its response.

    Unlike an HTTP client, this sends request lines and headers that break the protocol.

    :raise TimeoutError: when the server sends no full response within ``timeout`` seconds.
    """
    address = urlsplit(url)
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as connection:
        connection.sendall(request)
        response = http.client.HTTPResponse(connection)
        response.begin()
        return RawResponse(response.status, response.headers, response.read())


def raw_get(url, target, headers=b"", method=b"GET"):
    """Send a request for ``target`` with the bytes ``headers`` and return the raw response."""
    return send_raw(
        url,
        method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers + b"\r\n",
    )


class TerminalProcess:
    """``python service.py ...`` with its standard error on a pseudo-terminal.

    Progress displays write only to a terminal; this lets a test watch them.
    """

    def __init__(self, *arguments):
        self._terminal, child_side = pty.openpty()
        self.process = subprocess.Popen(
            [sys.executable, "service.py", *arguments],
            cwd=REPOSITORY, stdout=subprocess.DEVNULL, stderr=child_side,
        )
        os.close(child_side)
        self.output = ""

    def wait_for_output(self, pattern, timeout):
        """Read the terminal until ``pattern`` matches; return the match, or None at exit or timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output)
            if match:
                return match
            ready, _, _ = select.select([self._terminal], [], [], 0.05)
            if ready:
                try:
                    self.output += os.read(self._terminal, 65536).decode(errors="replace")
                except OSError:
                    # the child closed the terminal by exiting
                    return re.search(pattern, self.output)
            elif self.process.poll() is not None:
                return re.search(pattern, self.output)
        return None

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        os.close(self._terminal)


def run_service(*arguments, timeout=60):
    """Run ``python service.py`` to completion and return the finished process."""
    return subprocess.run(
        [sys.executable, "service.py", *arguments],
        cwd=REPOSITORY, capture_output=True, text=True, timeout=timeout,
    )


def fixture_with_steps(count, start=0, **fields):
    """The base fixture plus ``count`` step results numbered from ``start``."""
    document = base_fixture()
    document["stepResults"] = [make_step_result(index, **fields) for index in range(start, start + count)]
    return document


def write_json(path, document):
    Path(path).write_text(json.dumps(document), encoding="utf-8")
    return path


def dump_rows(database_path):
    """Return every row of the mock's tables, sorted, to compare two states of a database."""
    connection = sqlite3.connect(database_path)
    try:
        return {
            table: sorted(connection.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in ("api_key", "record", "step_result")
        }
    finally:
        connection.close()


def integrity_check(database_path):
    connection = sqlite3.connect(database_path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def wait_for(condition, timeout, interval=0.02):
    """Poll ``condition`` until it returns a true value or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return None


def file_size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0
