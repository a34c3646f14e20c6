"""The benchmark's data generator: its rows load through the product's loader, the same
seed gives the same file, and the hot records have the sizes BENCHMARKS.md states."""

import os
import sys

import pytest

import fixtures
import models

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))

import generate  # noqa: E402  (bench/ is on the path only from here on)


@pytest.mark.parametrize(
    "total, expected",
    [(10_000, [6_000, 2_000, 1_000]), (100_000, [10_000, 5_000, 2_500]), (1_000_000, [10_000, 5_000, 2_500])],
)
def test_hot_record_sizes(total, expected):
    assert generate.hot_record_sizes(total) == expected


def write(tmp_path, name, rows, file_format="jsonl", seed=generate.SEED):
    path = tmp_path / name
    generate.main(["--rows", str(rows), "--output", str(path), "--format", file_format, "--seed", str(seed)])
    return path


def test_same_seed_same_file(tmp_path):
    assert write(tmp_path, "a.jsonl", 500).read_bytes() == write(tmp_path, "b.jsonl", 500).read_bytes()


def test_other_seed_other_file(tmp_path):
    assert write(tmp_path, "a.jsonl", 500).read_bytes() != write(tmp_path, "b.jsonl", 500, seed=7).read_bytes()


@pytest.mark.parametrize("file_format", ["jsonl", "json"])
def test_rows_load_through_loader(app, tmp_path, file_format):
    path = write(tmp_path, f"rows.{file_format}", 2_000, file_format)

    with models.database.connection_context():
        counts = fixtures.load_fixture_file(path)
        hot_rows = models.StepResult.select().where(models.StepResult.record == generate.HOT_RECORD_IDS[0]).count()

    assert counts["stepResults"] == 2_000
    assert counts["apiKeys"] == 1
    assert hot_rows == generate.hot_record_sizes(2_000)[0]
