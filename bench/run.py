"""Benchmark the mock against a fixed-body floor app, raw SQLite and json-server.

Every HTTP figure comes from wrk rounds that alternate the service with the floor app
(``bench/floor.py``) in the same run, and is reported as the median over rounds together
with the median of the per-round ratios service/floor. Other machines and other loads on
this one change absolute figures; the ratios move far less.

Phases (``--phases``, all by default):

- ``load``: generate the fixture (JSON Lines) and load it with ``python service.py load``,
  timing the load and the loader's peak memory. Skipped when the database exists.
- ``requests``: wrk rounds per query at 1 and 4 connections, alternated with the floor,
  then the raw SQLite time of each query's page in-process and the server's memory.
- ``startup``: time from starting ``python service.py`` on the loaded database to its
  first 200.
- ``flat``: the smallest and the largest size served side by side, alternated, per query.
- ``configs``: worker and thread settings side by side (``--configs``).
- ``journal``: the request journal on (the default size) against ``--journal-size 0``.
- ``json-server``: json-server on the same step results, alternated with the floor;
  installed from npm into bench/node (ignored by git). Only for sizes up to 100,000.

Usage: python bench/run.py --sizes 10000 100000 [--rounds 5] [--duration 3]
Results go to bench/results/ (ignored by git) as JSON and as Markdown tables.
"""

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, ROOT)
sys.path.insert(0, BENCH)

import generate  # noqa: E402  (bench/ and the project root are on the path only from here on)

PYTHON = sys.executable
DATA = os.path.join(BENCH, "data")
RESULTS = os.path.join(BENCH, "results")
NODE_PREFIX = os.path.join(BENCH, "node")
JSON_SERVER_VERSION = "0.17.4"
JSON_SERVER_MAX_ROWS = 100_000
AUTH_HEADER = f"Authorization: Bearer {generate.BENCH_API_KEY}"
HOT = generate.HOT_RECORD_IDS[0]
SMALL = generate.SMALL_RECORD_ID
STARTUP_TRIES = 5
STARTUP_TIMEOUT_SECONDS = 60

# name -> (record, query string). Each is measured at 1 and 4 connections.
MAIN_QUERIES = {
    "hot first page": (HOT, ""),
    "hot, status=failed": (HOT, "status=failed"),
    "small record": (SMALL, ""),
    "hot, offset=5000": (HOT, "offset=5000"),
    "hot, one month": (HOT, "from=2024-03-01&to=2024-03-31"),
}
SORT_KEYS = (
    "createdAt", "startedAt", "completedAt", "order", "durationMs", "status",
    "stepName", "stepType", "totalTokens", "estimatedCost", "retryCount",
)
# Every sort key in both directions on the hot record, at 1 connection.
SORT_QUERIES = {
    f"sortBy={key}&sortOrder={order}": (HOT, f"sortBy={key}&sortOrder={order}")
    for key in SORT_KEYS for order in ("desc", "asc")
}


# -- processes -------------------------------------------------------------------------------


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A server process started by the benchmark, stopped by its process id."""

    def __init__(self, name, command, port):
        self.name = name
        self.port = port
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_until_ready(self, path, timeout=STARTUP_TIMEOUT_SECONDS):
        """Poll ``path`` until it returns 200; return the seconds since the process started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.errors()}")
            if http_status(self.port, path) == 200:
                return time.perf_counter() - self.started
            time.sleep(0.002)
        raise RuntimeError(f"{self.name} did not return 200 on {path} within {timeout} s")

    def memory(self):
        """Return the resident and proportional set sizes in MiB of the process and its children."""
        processes = [self.process.pid] + child_processes(self.process.pid)
        rss = sum(proc_kib(pid, "status", "VmRSS:") for pid in processes)
        pss = sum(proc_kib(pid, "smaps_rollup", "Pss:") for pid in processes)
        return {"rss_mib": rss / 1024, "pss_mib": pss / 1024, "processes": len(processes)}

    def errors(self):
        return self.process.stderr.read().decode("utf-8", "replace")[-2000:] if self.process.stderr else ""

    def stop(self):
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_service(database, *options, name="service"):
    port = free_port()
    command = [PYTHON, "service.py", "--db", database, "--port", str(port), "--log-level", "WARNING", *options]
    return Server(name, command, port)


def start_floor(body_path, workers=None, threads=None):
    port = free_port()
    command = [PYTHON, os.path.join(BENCH, "floor.py"), "--body", body_path, "--port", str(port)]
    command += ["--workers", str(workers)] if workers else []
    command += ["--threads", str(threads)] if threads else []
    return Server("floor", command, port)


def http_status(port, path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path, headers=headers or {"Authorization": AUTH_HEADER.split(": ", 1)[1]})
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        connection.close()


def http_body(port, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": AUTH_HEADER.split(": ", 1)[1]})
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} returned {response.status}: {body[:300]!r}")
        return body
    finally:
        connection.close()


def child_processes(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as file:
            children = [int(child) for child in file.read().split()]
    except OSError:
        return []
    return children + [grandchild for child in children for grandchild in child_processes(child)]


def proc_kib(pid, name, key):
    try:
        with open(f"/proc/{pid}/{name}") as file:
            for line in file:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def running(*servers):
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


# -- wrk -------------------------------------------------------------------------------------


def check_wrk():
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed. On Debian or Ubuntu: sudo apt-get install wrk")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(url, connections, duration):
    """Run one wrk round and return requests/s and the median latency in milliseconds."""
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-H", AUTH_HEADER, url],
        capture_output=True, text=True, check=True,
    ).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"wrk saw errors on {url}:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    number, unit = re.search(r"\s50%\s+([\d.]+)(us|ms|s)\b", output).groups()
    return {"rps": rate, "p50_ms": float(number) * _UNITS[unit]}


def alternate(targets, floor_url, counts, rounds, duration):
    """Run wrk on each of the service's ``targets`` and on the floor, ``rounds`` times.

    Every round runs the floor before and after the targets at each connection count, and
    a target's ratio in a round divides by the mean of those two floor runs.

    :param targets: a function of the connection count that returns ``{name: url}``.
    """
    samples = {}
    for round_number in range(rounds):
        for count in counts:
            before = wrk(floor_url, count, duration)
            measured = {name: wrk(url, count, duration) for name, url in targets(count).items()}
            after = wrk(floor_url, count, duration)
            floor = {key: (before[key] + after[key]) / 2 for key in before}
            samples.setdefault(("floor", count), []).append(floor)
            for name, figures in measured.items():
                figures["rps_ratio"] = figures["rps"] / floor["rps"]
                figures["p50_ratio"] = figures["p50_ms"] / floor["p50_ms"]
                samples.setdefault((name, count), []).append(figures)
        print(f"  round {round_number + 1}/{rounds} done", flush=True)
    return {key: medians(values) for key, values in samples.items()}


def medians(samples):
    return {key: statistics.median(sample[key] for sample in samples) for key in samples[0]} | {"rounds": len(samples)}


# -- phases ----------------------------------------------------------------------------------


def paths_for(size):
    return {
        "fixture": os.path.join(DATA, f"rows-{size}.jsonl"),
        "database": os.path.join(DATA, f"rows-{size}.db"),
        "load": os.path.join(DATA, f"rows-{size}.load.json"),
    }


def phase_load(size):
    """Generate and load the data set of ``size`` rows unless its database exists."""
    paths = paths_for(size)
    if not os.path.exists(paths["fixture"]):
        print(f"Generating {paths['fixture']}", flush=True)
        subprocess.run([PYTHON, os.path.join(BENCH, "generate.py"), "--rows", str(size), "--output", paths["fixture"]], check=True)
    if os.path.exists(paths["database"]):
        with open(paths["load"]) as file:
            return json.load(file)

    print(f"Loading {paths['fixture']} into {paths['database']}", flush=True)
    command = [PYTHON, "service.py", "load", paths["fixture"], "--db", paths["database"]]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"loading failed: {' '.join(command)}")

    figures = {
        "rows": size,
        "fixture_mib": os.path.getsize(paths["fixture"]) / 2**20,
        "database_mib": os.path.getsize(paths["database"]) / 2**20,
        "seconds": seconds,
        "rows_per_second": size / seconds,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "command": " ".join(["python", "service.py", "load", os.path.relpath(paths["fixture"], ROOT), "--db", "..."]),
    }
    with open(paths["load"], "w") as file:
        json.dump(figures, file)
    return figures


def step_results_path(record, query):
    return f"/v1/records/{record}/step-results" + (f"?{query}" if query else "")


def phase_requests(size, arguments):
    """Alternate wrk rounds of the service and the floor; time each page in raw SQLite."""
    database = paths_for(size)["database"]
    service = start_service(database, *arguments.service_options)
    with running(service):
        service.wait_until_ready(step_results_path(HOT, ""))
        body_path = save_floor_body(size, service)

        floor = start_floor(body_path, *arguments.floor_config)
        with running(floor):
            floor.wait_until_ready(step_results_path(HOT, ""))
            # every sort order is measured on the largest data set only, to keep the run short
            queries = dict(MAIN_QUERIES) | (SORT_QUERIES if arguments.sorts and size == max(arguments.sizes) else {})

            def targets(count):
                chosen = MAIN_QUERIES if count != 1 else queries
                return {name: service.url(step_results_path(*chosen[name])) for name in chosen}

            print(f"Requests at {size:,} rows", flush=True)
            figures = alternate(targets, floor.url(step_results_path(HOT, "")), (1, 4),
                                arguments.rounds, arguments.duration)
            memory = {"service": service.memory(), "floor": floor.memory()}

    raw = {name: raw_sqlite_ms(database, record, query) for name, (record, query) in queries.items()}
    return {
        "wrk": {f"{name} @{count}": values for (name, count), values in figures.items()},
        "raw_sqlite_ms": raw,
        "memory": memory,
        "floor_body_bytes": os.path.getsize(body_path),
    }


def save_floor_body(size, service):
    """Store the service's hot first page, the body that the floor app serves."""
    path = os.path.join(RESULTS, f"floor-body-{size}.json")
    with open(path, "wb") as file:
        file.write(http_body(service.port, step_results_path(HOT, "")))
    return path


def floor_body(size, arguments):
    """Return the floor body's path, asking a briefly started service for it when missing."""
    path = os.path.join(RESULTS, f"floor-body-{size}.json")
    if not os.path.exists(path):
        service = start_service(paths_for(size)["database"], *arguments.service_options)
        with running(service):
            service.wait_until_ready(step_results_path(HOT, ""))
            save_floor_body(size, service)
    return path


def raw_sqlite_ms(database, record, query):
    """Return the median milliseconds of the page's SQL alone, run in-process by sqlite3."""
    from urllib.parse import parse_qsl

    from werkzeug.datastructures import MultiDict

    import models
    import schemas

    arguments = schemas.load_query(MultiDict(parse_qsl(query)))
    sql, parameters = models.select_step_results(record, arguments).sql()
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        connection.execute(sql, parameters).fetchall()
        timings = []
        for _ in range(7):
            repeats = 200
            started = time.perf_counter()
            for _ in range(repeats):
                connection.execute(sql, parameters).fetchall()
            timings.append((time.perf_counter() - started) / repeats * 1000)
        return statistics.median(timings)
    finally:
        connection.close()


def phase_startup(size, arguments):
    """Start the service on the loaded database and time each start to its first 200."""
    times = []
    for _ in range(STARTUP_TRIES):
        service = start_service(paths_for(size)["database"], *arguments.service_options)
        with running(service):
            times.append(service.wait_until_ready(step_results_path(HOT, "")))
    return {"median_s": statistics.median(times), "tries": times}


def phase_flat(sizes, arguments):
    """Serve the smallest and largest sizes side by side and alternate rounds per query."""
    small, large = min(sizes), max(sizes)
    servers = [start_service(paths_for(size)["database"], *arguments.service_options, name=f"service-{size}")
               for size in (small, large)]
    samples = {}
    with running(*servers):
        for server in servers:
            server.wait_until_ready(step_results_path(HOT, ""))
        print(f"Flatness: {small:,} rows against {large:,} rows", flush=True)
        for _ in range(arguments.rounds):
            for name, (record, query) in MAIN_QUERIES.items():
                figures = [wrk(server.url(step_results_path(record, query)), 1, arguments.duration) for server in servers]
                samples.setdefault(name, []).append({
                    "small_p50_ms": figures[0]["p50_ms"], "large_p50_ms": figures[1]["p50_ms"],
                    "p50_ratio": figures[1]["p50_ms"] / figures[0]["p50_ms"],
                })
    return {"small": small, "large": large, "queries": {name: medians(values) for name, values in samples.items()}}


def phase_configs(size, arguments):
    """Serve the hot first page with each worker and thread setting side by side, alternated."""
    servers = {}
    for config in arguments.configs:
        workers, threads = config.split("x")
        servers[config] = start_service(paths_for(size)["database"], *arguments.service_options,
                                        "--workers", workers, "--threads", threads, name=f"service-{config}")
    samples = {}
    with running(*servers.values()):
        for server in servers.values():
            server.wait_until_ready(step_results_path(HOT, ""))
        print(f"Configurations at {size:,} rows: {', '.join(servers)}", flush=True)
        for _ in range(arguments.rounds):
            for count in (1, 4, 16):
                for config, server in servers.items():
                    samples.setdefault(f"{config} @{count}", []).append(
                        wrk(server.url(step_results_path(HOT, "")), count, arguments.duration)
                    )
        memory = {config: server.memory() for config, server in servers.items()}
    return {"wrk": {key: medians(values) for key, values in samples.items()}, "memory": memory}


def phase_journal(size, arguments):
    """Alternate the hot first page with the journal at its default size and turned off."""
    database = paths_for(size)["database"]
    servers = {
        "journal on (default)": start_service(database, *arguments.service_options, name="journal-on"),
        "--journal-size 0": start_service(database, *arguments.service_options, "--journal-size", "0", name="journal-off"),
    }
    samples = {}
    with running(*servers.values()):
        for server in servers.values():
            server.wait_until_ready(step_results_path(HOT, ""))
        print(f"Journal on and off at {size:,} rows", flush=True)
        for _ in range(arguments.rounds):
            for count in (1, 4):
                for name, server in servers.items():
                    samples.setdefault(f"{name} @{count}", []).append(
                        wrk(server.url(step_results_path(HOT, "")), count, arguments.duration)
                    )
    return {key: medians(values) for key, values in samples.items()}


def phase_json_server(size, arguments):
    """Serve the same step results with json-server and alternate it with the floor."""
    if size > JSON_SERVER_MAX_ROWS:
        return None
    binary = install_json_server()
    database = os.path.join(DATA, f"json-server-{size}.json")
    if not os.path.exists(database):
        write_json_server_data(paths_for(size)["fixture"], database)

    port = free_port()
    json_server = Server("json-server", ["node", binary, "--host", "127.0.0.1", "--port", str(port), "--read-only", "--quiet", database], port)
    path = f"/stepResults?recordId={HOT}&_sort=createdAt&_order=desc&_limit=10"
    with running(json_server):
        json_server.wait_until_ready(path, timeout=300)
        body_path = floor_body(size, arguments)
        floor = start_floor(body_path, *arguments.floor_config)
        with running(floor):
            floor.wait_until_ready(step_results_path(HOT, ""))
            print(f"json-server at {size:,} rows", flush=True)
            figures = alternate(lambda count: {"json-server hot first page": json_server.url(path)},
                                floor.url(step_results_path(HOT, "")), (1, 4),
                                min(arguments.rounds, 3), arguments.duration)
            memory = json_server.memory()
    return {"wrk": {f"{name} @{count}": values for (name, count), values in figures.items()},
            "memory": memory, "version": JSON_SERVER_VERSION, "path": path}


def install_json_server():
    binary = os.path.join(NODE_PREFIX, "node_modules", "json-server", "lib", "cli", "bin.js")
    if not os.path.exists(binary):
        if shutil.which("npm") is None:
            sys.exit("npm is not installed. On Debian or Ubuntu: sudo apt-get install npm")
        subprocess.run(["npm", "install", "--prefix", NODE_PREFIX, "--no-audit", "--no-fund",
                        f"json-server@{JSON_SERVER_VERSION}"], check=True)
    return binary


def write_json_server_data(fixture, output):
    """Write the fixture's step results as json-server's data file, one collection."""
    with open(fixture, encoding="utf-8") as source, open(output, "w", encoding="utf-8") as target:
        target.write('{"stepResults":[')
        separator = ""
        for line in source:
            item = json.loads(line)
            if "stepResults" in item:
                target.write(separator + json.dumps(item["stepResults"], separators=(",", ":")))
                separator = ","
        target.write("]}\n")


# -- report ----------------------------------------------------------------------------------


def machine():
    with open("/proc/cpuinfo") as file:
        model = next((line.split(":", 1)[1].strip() for line in file if line.startswith("model name")), "unknown")
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[0].split(" [")[0],
        "load_average_at_start": os.getloadavg(),
    }


def parse_arguments(argv):
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="rows per data set")
    parser.add_argument("--phases", default="load,requests,startup,flat,configs,journal,json-server",
                        help="comma-separated phases to run (default all)")
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds per figure (default 5)")
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run (default 3)")
    parser.add_argument("--sorts", action="store_true",
                        help="also measure every sortBy in both directions, at the largest size")
    parser.add_argument("--configs", default="1x8,1x4,2x4,2x2,2x1",
                        help="WORKERSxTHREADS settings for the configs phase (default 1x8,1x4,2x4,2x2,2x1)")
    parser.add_argument("--service-option", action="append", default=[], dest="service_options",
                        help="extra option for python service.py, e.g. --service-option=--journal-size=0")
    parser.add_argument("--floor-workers", type=int, help="floor app workers (default: the service's default)")
    parser.add_argument("--floor-threads", type=int, help="floor app threads (default: the service's default)")
    arguments = parser.parse_args(argv)
    arguments.phases = arguments.phases.split(",")
    arguments.configs = arguments.configs.split(",")
    arguments.floor_config = (arguments.floor_workers, arguments.floor_threads)
    return arguments


def main(argv=None):
    arguments = parse_arguments(argv)
    check_wrk()
    os.makedirs(DATA, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)

    started = datetime.now(timezone.utc)
    report = {"started": started.isoformat(), "command": " ".join(["python", "bench/run.py", *(argv or sys.argv[1:])]),
              "machine": machine(), "sizes": {}}
    output = os.path.join(RESULTS, f"run-{started:%Y%m%d-%H%M%S}.json")

    for size in arguments.sizes:
        figures = report["sizes"].setdefault(str(size), {})
        figures["load"] = phase_load(size)
        for phase, run in (("requests", phase_requests), ("startup", phase_startup),
                           ("json-server", phase_json_server)):
            if phase in arguments.phases:
                figures[phase] = run(size, arguments)
                save(report, output)
    largest = max(arguments.sizes)
    if "flat" in arguments.phases and len(arguments.sizes) > 1:
        report["flat"] = phase_flat(arguments.sizes, arguments)
    if "configs" in arguments.phases:
        report["configs"] = phase_configs(largest, arguments)
    if "journal" in arguments.phases:
        report["journal"] = phase_journal(largest, arguments)
    report["finished"] = datetime.now(timezone.utc).isoformat()
    save(report, output)

    import report as markdown

    print(markdown.render(report))
    print(f"Results: {os.path.relpath(output, ROOT)}")
    return 0


def save(report, path):
    with open(path, "w") as file:
        json.dump(report, file, indent=1)


if __name__ == "__main__":
    sys.exit(main())
