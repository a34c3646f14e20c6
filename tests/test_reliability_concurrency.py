"""Concurrency: 16 readers hold the real server busy while fixtures load through the admin
API and, from other processes, through ``python service.py load``. No 5xx, no "database is
locked", and every reader sees each load either wholly or not at all.

Each load adds ``ROWS_PER_LOAD`` step results with one batchExecutionId to one record, in
one transaction. A reader fetches a whole record in one page and groups its rows by batch:
a group of any other size would be a load seen half-way.
"""

import random
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import requests

from conftest import API_KEY, ORGANIZATION_ID, USER_ID, base_fixture, make_step_result
from reliability_support import REPOSITORY, ServerProcess, record_figures, write_json

READERS = 16
READ_SECONDS = 4
MAX_READS_PER_READER = 2_000
ROWS_PER_LOAD = 25
RECORDS = 12
# A page contains at most 100 rows, so a record takes at most four loads of 25 rows.
LOADS_PER_RECORD = 4
CLI_LOADS = 8
ADMIN_LOADS = RECORDS * LOADS_PER_RECORD - CLI_LOADS
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def record_id(number):
    return f"record_busy_{number:02d}"


def load_document(load_number):
    """``ROWS_PER_LOAD`` step results of batch ``load-N`` on the record this load fills."""
    target = record_id(load_number % RECORDS)
    rows = [
        make_step_result(
            load_number * ROWS_PER_LOAD + index,
            id=f"load_{load_number:03d}_{index:02d}",
            recordId=target,
            batchExecutionId=f"load-{load_number}",
        )
        for index in range(ROWS_PER_LOAD)
    ]
    return {"stepResults": rows}


def start_fixture():
    document = base_fixture()
    document["records"] += [
        {"id": record_id(number), "organizationId": ORGANIZATION_ID, "userId": USER_ID} for number in range(RECORDS)
    ]
    return document


class Reader(threading.Thread):
    """Reads whole records until the deadline, keeping the statuses and every torn read."""

    def __init__(self, url, deadline, seed):
        super().__init__(daemon=True)
        self.url = url
        self.deadline = deadline
        self.random = random.Random(seed)
        self.statuses = Counter()
        self.torn = []
        self.failures = []

    def run(self):
        session = requests.Session()
        reads = 0
        while time.monotonic() < self.deadline and reads < MAX_READS_PER_READER:
            reads += 1
            target = record_id(self.random.randrange(RECORDS))
            try:
                response = session.get(f"{self.url}/v1/records/{target}/step-results?limit=100", headers=AUTH, timeout=30)
            except requests.RequestException as error:
                self.failures.append(repr(error))
                continue
            self.statuses[response.status_code] += 1
            if response.status_code == 200:
                self.check_page(target, response.json())
            else:
                self.failures.append(response.text[:300])

    def check_page(self, target, page):
        batches = Counter(row["batchExecutionId"] for row in page["data"])
        partial = {batch: count for batch, count in batches.items() if count != ROWS_PER_LOAD}
        if partial or page["pagination"]["hasMore"]:
            self.torn.append((target, partial, page["pagination"]))


def load_through_admin(url, load_numbers, results):
    session = requests.Session()
    for number in load_numbers:
        response = session.post(f"{url}/_mock/fixtures", json=load_document(number), timeout=60)
        results.append(("admin", number, response.status_code, response.text[:300]))


def load_through_command_line(database_path, folder, load_numbers, results):
    for number in load_numbers:
        path = write_json(folder / f"load-{number}.json", load_document(number))
        finished = subprocess.run(
            [sys.executable, "service.py", "load", "--db", str(database_path), str(path)],
            cwd=REPOSITORY, capture_output=True, text=True, timeout=120,
        )
        results.append(("command line", number, finished.returncode, finished.stderr[-300:]))


@pytest.fixture(scope="module")
def busy_run(tmp_path_factory):
    """Run the readers and both kinds of loads together once; return what they saw."""
    folder = tmp_path_factory.mktemp("busy")
    database_path = folder / "mock.db"
    server = ServerProcess(folder, database_path, "--fixture", str(write_json(folder / "start.json", start_fixture())))
    try:
        server.start()
        loads = []
        numbers = list(range(RECORDS * LOADS_PER_RECORD))
        readers = [Reader(server.url, time.monotonic() + READ_SECONDS, seed) for seed in range(READERS)]
        loaders = [
            threading.Thread(target=load_through_admin, args=(server.url, numbers[:ADMIN_LOADS], loads), daemon=True),
            threading.Thread(
                target=load_through_command_line, args=(database_path, folder, numbers[ADMIN_LOADS:], loads), daemon=True
            ),
        ]
        for thread in readers + loaders:
            thread.start()
        for thread in readers + loaders:
            thread.join(timeout=180)

        final_counts = {
            record_id(number): requests.get(
                f"{server.url}/v1/records/{record_id(number)}/step-results?limit=100", headers=AUTH, timeout=30
            ).json()["pagination"]["returned"]
            for number in range(RECORDS)
        }
        server.stop()
    finally:
        server.close()

    statuses = sum((reader.statuses for reader in readers), Counter())
    expected_rows = RECORDS * LOADS_PER_RECORD * ROWS_PER_LOAD
    record_figures(
        f"concurrency: {READERS} readers for {READ_SECONDS} s during {len(loads)} loads",
        clients=READERS + 2,
        requests=sum(statuses.values()) + ADMIN_LOADS,
        server_errors=sum(count for status, count in statuses.items() if status >= 500),
        rows_lost=expected_rows - sum(final_counts.values()),
        torn_reads=sum(len(reader.torn) for reader in readers),
    )
    return {
        "statuses": statuses,
        "torn": [torn for reader in readers for torn in reader.torn],
        "failures": [failure for reader in readers for failure in reader.failures],
        "loads": loads,
        "final_counts": final_counts,
        "logs": server.stdout() + server.stderr(),
        "alive": [thread for thread in readers + loaders if thread.is_alive()],
    }


def test_all_threads_finished(busy_run):
    assert busy_run["alive"] == []


def test_readers_read_often(busy_run):
    # about 100 reads per second on two cores; far fewer means requests were stuck
    assert sum(busy_run["statuses"].values()) >= READERS * 10


def test_every_read_succeeded(busy_run):
    assert busy_run["failures"] == []
    assert set(busy_run["statuses"]) == {200}


def test_every_load_succeeded(busy_run):
    assert len(busy_run["loads"]) == RECORDS * LOADS_PER_RECORD
    assert [load for load in busy_run["loads"] if load[2] not in (0, 201)] == []


def test_loads_seen_whole(busy_run):
    assert busy_run["torn"] == []


def test_no_rows_lost(busy_run):
    assert busy_run["final_counts"] == {record_id(number): LOADS_PER_RECORD * ROWS_PER_LOAD for number in range(RECORDS)}


def test_database_never_locked(busy_run):
    assert "database is locked" not in busy_run["logs"]
    assert "Traceback" not in busy_run["logs"]
