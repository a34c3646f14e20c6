"""Tests of the demo data set: determinism, validity against the contract and variety."""

import json
import re
from collections import Counter
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

import demo

STATUSES = ("pending", "queued", "running", "paused", "completed", "failed", "cancelled", "interrupted", "skipped")
ENGINES = ("runtime", "legacy", "external", None)
NULLABLE_SORT_FIELDS = ("order", "startedAt", "completedAt", "durationMs", "totalTokens", "estimatedCost", "retryCount")
PLAIN_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
TIMESTAMP = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3})?Z$")
NOT_STARTED = ("pending", "queued")
UNFINISHED = ("pending", "queued", "running", "paused")


@pytest.fixture(scope="module")
def fixture():
    return demo.build_demo_fixture()


@pytest.fixture(scope="module")
def rows(fixture):
    return fixture["stepResults"]


@pytest.fixture(scope="module")
def records_by_id(fixture):
    return {record["id"]: record for record in fixture["records"]}


def parse(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def full_documented_row():
    row = dict.fromkeys(demo.STEP_RESULT_FIELDS)
    row.update(demo.DOCUMENTED_EXAMPLE_ROW)
    return row


def test_fixture_is_deterministic(fixture):
    again = demo.build_demo_fixture()

    assert again == fixture
    assert json.dumps(again) == json.dumps(fixture)


def test_fixture_is_json_serializable(fixture):
    assert json.loads(json.dumps(fixture)) == fixture


def test_fixture_size_in_range(fixture, rows):
    assert 3000 <= len(rows) <= 5000
    assert len(fixture["records"]) >= 50


def test_ids_unique(fixture, rows):
    assert len({row["id"] for row in rows}) == len(rows)
    assert len({record["id"] for record in fixture["records"]}) == len(fixture["records"])


def test_every_status_present(rows):
    counts = Counter(row["status"] for row in rows)

    for status in STATUSES:
        assert counts[status] > 0, status
    assert set(counts) <= set(STATUSES)


def test_engines_valid_and_mixed(rows):
    counts = Counter(row["executionEngine"] for row in rows)

    assert set(counts) == set(ENGINES)
    assert counts["runtime"] > counts["legacy"] > counts["external"]


def test_step_results_reference_records(rows, records_by_id):
    for row in rows:
        assert row["recordId"] in records_by_id, row["id"]


def test_step_result_organization_matches_record(rows, records_by_id):
    for row in rows:
        assert row["organizationId"] == records_by_id[row["recordId"]]["organizationId"], row["id"]


def test_documented_row_present_once(rows):
    matches = [row for row in rows if row["id"] == demo.DOCUMENTED_EXAMPLE_ROW["id"]]

    assert len(matches) == 1
    assert matches[0] == full_documented_row()


def test_documented_record_has_only_documented_row(rows, records_by_id):
    record_rows = [row for row in rows if row["recordId"] == demo.DOCUMENTED_RECORD_ID]
    record = records_by_id[demo.DOCUMENTED_RECORD_ID]

    assert [row["id"] for row in record_rows] == [demo.DOCUMENTED_EXAMPLE_ROW["id"]]
    assert record["metadata"] == {}
    assert record["name"] == "Customer Onboarding - John Doe"
    assert record["organizationId"] == demo.DEMO_ORGANIZATION_ID
    assert record["userId"] == "user_987654321"


def test_documented_batch_runs_documented_flow(rows):
    batch_rows = [row for row in rows if row["batchExecutionId"] == demo.DOCUMENTED_EXAMPLE_ROW["batchExecutionId"]]

    assert len(batch_rows) > 1
    assert {row["flowId"] for row in batch_rows} == {demo.DOCUMENTED_EXAMPLE_ROW["flowId"]}


def test_costs_are_plain_decimals(rows):
    costs = [row["estimatedCost"] for row in rows if row["estimatedCost"] is not None]

    assert costs
    for cost in costs:
        assert isinstance(cost, str)
        assert PLAIN_DECIMAL.match(cost), cost


def test_costs_match_tokens(rows):
    checked = 0
    for row in rows:
        price = demo.MODEL_PRICES.get(row["modelUsed"])
        if price is None:
            continue
        if row["totalTokens"] is None:
            assert row["estimatedCost"] is None, row["id"]
            continue

        cached = row["cacheReadTokens"] or 0
        expected = (
            (row["promptTokens"] - cached) * price.input
            + cached * price.cached_input
            + row["completionTokens"] * price.output
        ) / Decimal(1_000_000)
        expected = expected.quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)
        assert Decimal(row["estimatedCost"]) == expected, row["id"]
        checked += 1
    assert checked > 1000


def test_estimate_cost_examples():
    assert demo.estimate_cost("gpt-4o-mini", 1_000_000, 0) == "0.15"
    assert demo.estimate_cost("claude-3-5-sonnet", 1000, 500, cache_read_tokens=1000) == "0.0078"
    assert demo.estimate_cost("gemini-1.5-flash", 1, 0) == "0.00000008"
    assert demo.estimate_cost("o3-mini", 0, 0) == "0"


def test_non_ai_rows_have_no_usage(rows):
    for row in rows:
        if row["stepType"] in demo.AI_STEP_TYPES or row["id"] == demo.DOCUMENTED_EXAMPLE_ROW["id"]:
            continue
        assert row["modelUsed"] is None, row["id"]
        assert row["totalTokens"] is None, row["id"]
        assert row["estimatedCost"] is None, row["id"]


def test_total_tokens_is_sum(rows):
    for row in rows:
        if row["promptTokens"] is not None and row["completionTokens"] is not None:
            assert row["totalTokens"] == row["promptTokens"] + row["completionTokens"], row["id"]


def test_cache_and_reasoning_tokens_fit(rows):
    for row in rows:
        cached = (row["cacheReadTokens"] or 0) + (row["cacheWriteTokens"] or 0)
        if row["promptTokens"] is not None:
            assert cached <= row["promptTokens"], row["id"]
        if row["reasoningTokens"] is not None:
            assert row["reasoningTokens"] <= row["completionTokens"], row["id"]

    assert any(row["cacheReadTokens"] for row in rows)
    assert any(row["cacheWriteTokens"] for row in rows)
    assert any(row["reasoningTokens"] for row in rows)


def test_reasoning_fields_present(rows):
    rejections = [row for row in rows if row["reasoningRejection"] is not None]

    assert 1 <= len(rejections) <= 2
    assert any(row["reasoningConfig"] == {"effort": "medium"} for row in rows)
    assert all(row["reasoningRequested"] is True for row in rejections)


def test_duration_matches_timestamps(rows):
    for row in rows:
        if row["startedAt"] is None or row["completedAt"] is None:
            assert row["durationMs"] is None, row["id"]
            continue
        elapsed = parse(row["completedAt"]) - parse(row["startedAt"])
        assert row["durationMs"] == elapsed // timedelta(milliseconds=1), row["id"]
        assert row["durationMs"] >= 0, row["id"]


def test_created_at_not_after_start(rows):
    for row in rows:
        if row["startedAt"] is not None:
            assert parse(row["createdAt"]) <= parse(row["startedAt"]), row["id"]


def test_unfinished_rows_have_no_completion(rows):
    for row in rows:
        if row["status"] in UNFINISHED:
            assert row["completedAt"] is None, row["id"]
            assert row["durationMs"] is None, row["id"]
        if row["status"] in NOT_STARTED:
            assert row["startedAt"] is None, row["id"]


def test_failures_have_error_messages(rows):
    failed = [row for row in rows if row["status"] == "failed"]

    assert all(row["errorMessage"] for row in failed)
    assert any((row["retryCount"] or 0) > 0 for row in failed)


def test_steps_after_failure_are_skipped_or_cancelled(rows):
    by_session = {}
    for row in rows:
        by_session.setdefault(row["executionSessionId"], []).append(row)

    checked = 0
    for session_rows in by_session.values():
        statuses = [row["status"] for row in session_rows]
        if "failed" not in statuses:
            continue
        after = statuses[statuses.index("failed") + 1:]
        assert set(after) <= {"skipped", "cancelled"}, session_rows[0]["executionSessionId"]
        checked += 1
    assert checked > 10


def test_timestamps_are_utc_strings(fixture, rows):
    for row in rows:
        for name in demo.TIMESTAMP_FIELDS:
            assert row[name] is None or TIMESTAMP.match(row[name]), (row["id"], name)
    for record in fixture["records"]:
        assert TIMESTAMP.match(record["createdAt"])
        assert TIMESTAMP.match(record["updatedAt"])

    assert any("." in row["createdAt"] for row in rows)
    assert any("." not in row["createdAt"] for row in rows)


def test_rows_inside_data_window(rows):
    days = {row["createdAt"][:10] for row in rows}

    assert min(days) == "2024-05-13"
    assert max(days) == "2024-06-10"


@pytest.mark.parametrize("field", NULLABLE_SORT_FIELDS)
def test_sort_field_has_null_and_value(rows, field):
    demo_rows = [row for row in rows if row["organizationId"] == demo.DEMO_ORGANIZATION_ID]

    assert any(row[field] is None for row in demo_rows)
    assert any(row[field] is not None for row in demo_rows)


def test_busiest_record_is_varied(rows):
    busiest = [row for row in rows if row["recordId"] == demo.BUSIEST_RECORD_ID]
    counts = Counter(row["recordId"] for row in rows)

    assert counts.most_common(1)[0][0] == demo.BUSIEST_RECORD_ID
    assert len(busiest) >= 300
    assert len({row["flowId"] for row in busiest}) >= 4
    assert len({row["batchExecutionId"] for row in busiest}) >= 20
    assert len({row["status"] for row in busiest}) >= 5
    assert len({row["recordName"] for row in busiest}) == 2


def test_created_at_ties_within_record(rows):
    keys = Counter((row["recordId"], row["createdAt"]) for row in rows)

    assert any(count > 1 for count in keys.values())


def test_demo_keys(fixture):
    keys = {item["key"]: item for item in fixture["apiKeys"]}

    assert set(keys) == set(demo.DEMO_KEYS.values())
    assert keys[demo.DEMO_API_KEY]["permissions"] == ["*"]
    assert keys[demo.DEMO_API_KEY]["userId"] == "user_987654321"
    assert keys[demo.DEMO_KEYS["demo_flows_read_only"]]["permissions"] == ["flows:read"]
    assert keys[demo.DEMO_KEYS["demo_revoked"]]["revoked"] is True
    assert {item["organizationId"] for item in keys.values()} == {
        demo.DEMO_ORGANIZATION_ID, demo.SECOND_ORGANIZATION_ID, demo.THIRD_ORGANIZATION_ID,
    }


def test_fixture_loads(load, fixture):
    counts = load(fixture)

    assert counts == {
        "apiKeys": len(fixture["apiKeys"]),
        "records": len(fixture["records"]),
        "stepResults": len(fixture["stepResults"]),
    }


def test_documented_response(load, client, fixture):
    load(fixture)

    response = client.get(
        f"/v1/records/{demo.DOCUMENTED_RECORD_ID}/step-results",
        headers={"Authorization": f"Bearer {demo.DEMO_API_KEY}"},
    )

    assert response.status_code == 200
    assert response.get_json()["data"] == [full_documented_row()]
    assert response.get_json()["pagination"] == {"limit": 10, "offset": 0, "returned": 1, "hasMore": False}


@pytest.mark.parametrize(
    ("purpose", "expected_status"),
    [
        ("demo_full_access", 200),
        ("demo_flows_read_only", 403),
        ("demo_revoked", 401),
        ("second_organization", 404),
        ("third_organization", 404),
    ],
)
def test_demo_key_statuses(load, client, fixture, purpose, expected_status):
    load({"apiKeys": fixture["apiKeys"], "records": fixture["records"]})

    response = client.get(
        f"/v1/records/{demo.BUSIEST_RECORD_ID}/step-results",
        headers={"Authorization": f"Bearer {demo.DEMO_KEYS[purpose]}"},
    )

    assert response.status_code == expected_status
