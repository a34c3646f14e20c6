"""Tests of step_report against the Runtype mock, as any project using the plugin writes them."""

from decimal import Decimal

import step_report

STEP_RESULTS_PATH = "/v1/records/*/step-results"


def three_steps_fixture(organization_id):
    """A record with three steps: one failed between two completed ones."""
    record = {
        "id": "rec_checkout",
        "name": "Checkout - Order 1042",
        "organizationId": organization_id,
        "userId": "user_shop",
    }
    statuses = ("completed", "failed", "completed")
    steps = [
        {
            "id": f"step_{index}",
            "recordId": record["id"],
            "stepType": "prompt",
            "stepName": f"Step {index}",
            "status": status,
            "estimatedCost": "0.0015",
            "createdAt": f"2024-06-01T10:00:0{index}Z",
        }
        for index, status in enumerate(statuses, start=1)
    ]
    return {"records": [record], "stepResults": steps}


def test_failed_step_names_newest_first(runtype_mock, client):
    record = runtype_mock.add_record()
    runtype_mock.add_step_results(record, rows=[{"status": "failed"}, {"status": "completed"}, {"status": "failed"}])

    names = step_report.failed_step_names(client, record["id"])

    assert names == ["Classify Support Intent", "Validate Email Address"]


def test_total_cost_is_exact(runtype_mock, client):
    record = runtype_mock.add_record()
    costs = ["0.00015", "0.0045", None]
    runtype_mock.add_step_results(record, rows=[{"estimatedCost": cost} for cost in costs])

    assert step_report.total_cost(client, record["id"]) == Decimal("0.00465")


def test_reads_every_page(runtype_mock, client):
    record = runtype_mock.add_record()
    runtype_mock.add_step_results(record, count=150)

    steps = list(step_report.iter_step_results(client, record["id"]))

    assert len(steps) == 150
    assert [entry["query"]["offset"] for entry in runtype_mock.requests] == [["0"], ["100"]]


def test_retries_after_503_then_reads(runtype_mock, client):
    runtype_mock.load(three_steps_fixture(runtype_mock.organization_id))
    runtype_mock.fail_next(503, path=STEP_RESULTS_PATH, headers={"Retry-After": "0"})

    names = step_report.failed_step_names(client, "rec_checkout")

    assert names == ["Step 2"]
    attempts = runtype_mock.journal(path=STEP_RESULTS_PATH)
    assert [entry["status"] for entry in attempts] == [503, 200]
    assert attempts[0]["query"] == attempts[1]["query"]
    assert attempts[1]["headers"]["Authorization"] == f"Bearer {runtype_mock.fingerprint()}"


def test_retries_after_429_then_reads(runtype_mock, client):
    runtype_mock.load(three_steps_fixture(runtype_mock.organization_id))
    runtype_mock.fail_next(429, headers={"Retry-After": "0"})

    assert step_report.total_cost(client, "rec_checkout") == Decimal("0.0045")
    assert [entry["status"] for entry in runtype_mock.requests] == [429, 200]
