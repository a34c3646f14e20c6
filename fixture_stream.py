"""Stream large fixture files into the database, one item at a time, in one transaction.

Two kinds of file are streamed, so that memory stays bounded whatever the file's size:

- JSON Lines (``.jsonl`` or ``.ndjson``): one item per line, loaded in line order. A line
  is ``{"apiKeys": item}``, ``{"records": item}``, ``{"stepResults": item}`` or
  ``{"data": item}`` (a row of a captured response), or a bare step result object. Blank
  lines are skipped. A step result's record must be stored already or come on an earlier
  line. Errors name the line, e.g. ``line 13: stepResults.createdAt: ...``.
- JSON files of ``STREAM_FROM_BYTES`` or more, read with ijson: the sections are loaded in
  the same order as ``fixtures.load_fixture`` loads them, whatever their order in the file,
  and errors name the item as there, e.g. ``stepResults[12].createdAt: ...``.

While a file loads, a terminal on standard error shows a progress bar (for JSON Lines),
the rows loaded and the rows per second. Nothing is written when standard error is not a
terminal.
"""

import json
import logging
import os
import sys
import time

import ijson

import fixtures
from models import database

logger = logging.getLogger("runtype_mock")

JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")
# Smaller JSON files are parsed whole, which reports syntax errors with a line and column.
# Parsing whole takes several times the file's size in memory, so larger files are streamed.
STREAM_FROM_BYTES = 16 * 1024 * 1024
# The loader's order of the sections: records must be stored before the step results that
# name them.
SECTION_ORDER = ("apiKeys", "records", "stepResults", "data")
# SQLite's page cache while loading, in KiB (a negative cache_size counts KiB). The indexes
# of a large table then stay in memory instead of being read back for every chunk.
LOAD_CACHE_KIB = 128 * 1024


def is_streamed(path):
    """Return True when ``path`` names a JSON Lines file or a JSON file too large to parse whole."""
    if str(path).lower().endswith(JSON_LINES_SUFFIXES):
        return True
    try:
        return os.path.getsize(path) >= STREAM_FROM_BYTES
    except OSError:
        # read_fixture_file reports the unreadable file with its reason
        return False


def load_file(path, *, now_ms=None):
    """Validate and upsert the items of a fixture file in one transaction, reading it as a stream.

    :return: the counts stored, as ``{"apiKeys": n, "records": n, "stepResults": n}``.
    :raise fixtures.FixtureError: starting with the path, then the line or item and the
        field; nothing of the file is stored then.
    """
    loader = fixtures.FixtureLoader(now_ms=now_ms)
    read_items = _json_lines_items if str(path).lower().endswith(JSON_LINES_SUFFIXES) else _json_items
    add_item = {
        "apiKeys": loader.add_api_key,
        "records": loader.add_record,
        "stepResults": loader.add_step_result,
        "data": lambda item, location: loader.add_step_result(item, location, create_record=True),
    }

    progress = Progress(f"Loading {path}", total_bytes=_file_size(path) if read_items is _json_lines_items else None)
    try:
        with database.atomic(), _load_cache():
            for section, item, location, position in read_items(path):
                add_item[section](item, location)
                progress.advance(position)
            loader.flush()
    except OSError as error:
        raise fixtures.FixtureError(f"{path}: cannot read the fixture file: {error.strerror}") from None
    except UnicodeDecodeError:
        raise fixtures.FixtureError(f"{path}: the fixture file is not UTF-8 text") from None
    except fixtures.FixtureError as error:
        raise fixtures.FixtureError(f"{path}: {error}") from None
    finally:
        progress.close()

    logger.debug(
        "Validated and wrote fixture %s: %d API keys, %d records, %d step results", path,
        loader.counts["apiKeys"], loader.counts["records"], loader.counts["stepResults"],
    )
    return dict(loader.counts)


class _load_cache:
    """Raise SQLite's page cache of the current connection for a load, then restore it."""

    def __enter__(self):
        self.saved = database.pragma("cache_size")
        database.pragma("cache_size", -LOAD_CACHE_KIB)

    def __exit__(self, *exception):
        database.pragma("cache_size", self.saved)


# -- JSON Lines -----------------------------------------------------------------------------


def _json_lines_items(path):
    """Yield ``(section, item, location, bytes read)`` for each line of a JSON Lines fixture."""
    position = 0
    with open(path, "rb") as file:
        for number, raw_line in enumerate(file, start=1):
            position += len(raw_line)
            # a byte order mark, which some editors write, may start the file
            line = raw_line.decode("utf-8").removeprefix("\ufeff") if number == 1 else raw_line.decode("utf-8")
            if not line.strip():
                continue
            section, item = _parse_line(line, number)
            location = f"line {number}: {section}"
            if _may_break_value_rules(line):
                fixtures._check_values({location: item})
            yield section, item, location, position


def _may_break_value_rules(line):
    """Return False when the JSON text of a line cannot hold what ``fixtures._check_values``
    rejects, which skips its walk over every value.

    Text decoded as UTF-8 holds no unpaired surrogate, so only a ``\\u`` escape can write one.
    An item nests at most as deep as the line has opening brackets, and its check counts
    one more level above it.
    """
    return "\\u" in line or line.count("{") + line.count("[") + 1 >= fixtures.MAX_NESTING_DEPTH


def _file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def _parse_line(line, number):
    try:
        value = fixtures.parse_json(line.rstrip("\r\n"))
    except json.JSONDecodeError as error:
        raise fixtures.FixtureError(f"line {number}: invalid JSON at column {error.colno}: {error.msg}") from None
    except fixtures.FixtureError as error:
        raise fixtures.FixtureError(f"line {number}: {error}") from None

    if not isinstance(value, dict):
        raise fixtures.FixtureError(
            f"line {number}: expected a JSON object, either {{\"<section>\": item}} with a section of"
            f" {', '.join(SECTION_ORDER)}, or a step result; got {fixtures._json_type(value)}"
        )
    if len(value) == 1:
        (name, item), = value.items()
        if name in SECTION_ORDER:
            return name, item
    return "stepResults", value


# -- JSON, streamed with ijson -------------------------------------------------------------


def _json_items(path):
    """Yield ``(section, item, location, None)`` for each item of a JSON fixture, section by section.

    The file is read once to check its top level, then once for each section it has.
    """
    sections = _top_level_sections(path)
    for section in SECTION_ORDER:
        if section not in sections or section == "pagination":
            continue
        with open(path, "rb") as file:
            items = ijson.items(_skip_byte_order_mark(file), f"{section}.item", use_float=True)
            for index, item in enumerate(_reported(items)):
                # keyed by index, the item gets the location and depth it has in the document
                fixtures._check_values({section: {index: item}})
                yield section, item, f"{section}[{index}]", None


def _top_level_sections(path):
    """Check the file's top level as ``fixtures`` checks a parsed document; return its names.

    NOTE: a name given twice at the top level has its items loaded from both places, where
    json.loads keeps only the last one.
    """
    skeleton = _NOTHING_READ
    value_of = None  # the top-level name whose value starts with the next event
    with open(path, "rb") as file:
        for prefix, event, value in _reported(ijson.parse(_skip_byte_order_mark(file), use_float=True)):
            if skeleton is _NOTHING_READ:
                skeleton = _placeholder(event, value)
            elif value_of is not None:
                skeleton[value_of] = _placeholder(event, value)
                value_of = None
            elif prefix == "" and event == "map_key":
                value_of = value

    fixtures._check_document(skeleton)
    return set(skeleton)


_NOTHING_READ = object()


def _placeholder(event, value):
    """Return a small value of the JSON type that begins with ``event``."""
    if event == "start_map":
        return {}
    if event == "start_array":
        return []
    return value


def _reported(events):
    """Pass on ijson's output, turning its parse errors into fixture errors."""
    try:
        yield from events
    except ijson.JSONError as error:
        problem = str(error).splitlines()[0] if str(error) else "incomplete JSON"
        raise fixtures.FixtureError(f"invalid JSON: {problem}") from None


def _skip_byte_order_mark(file):
    if file.read(3) != b"\xef\xbb\xbf":
        file.seek(0)
    return file


# -- progress ------------------------------------------------------------------------------


class Progress:
    """A one-line progress display on a terminal's standard error: a bar with the share of
    the file read, when its size is known, then the rows loaded and the rows per second."""

    INTERVAL_SECONDS = 0.25
    BAR_WIDTH = 20

    def __init__(self, label, stream=None, total_bytes=None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.label = label
        self.total_bytes = total_bytes
        self.position = 0
        self.rows = 0
        self.started = self.shown = time.monotonic()

    def advance(self, position=None):
        """Count one more row; ``position`` is the bytes of the file read so far, if known."""
        self.rows += 1
        if position is not None:
            self.position = position
        if self.enabled and self.rows % 1000 == 0:
            now = time.monotonic()
            if now - self.shown >= self.INTERVAL_SECONDS:
                self.shown = now
                self._show(now)

    def close(self):
        if self.enabled and self.rows:
            self._show(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def _show(self, now):
        rate = self.rows / max(now - self.started, 1e-9)
        bar = ""
        if self.total_bytes:
            share = min(self.position / self.total_bytes, 1.0)
            filled = round(share * self.BAR_WIDTH)
            bar = f" [{'#' * filled}{'.' * (self.BAR_WIDTH - filled)}] {share:4.0%}"
        self.stream.write(f"\r{self.label}:{bar} {self.rows:,} rows, {rate:,.0f} rows/s ")
        self.stream.flush()
