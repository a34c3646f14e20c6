"""The official client, runtype-sdk 5.5.0, against scheduled 503 and 429 responses.

The client retries statuses 408, 409, 429 and 5xx up to ``max_retries`` times (2 by
default). It waits for Retry-After only when that is above 0, so ``Retry-After: 0`` still
costs its first backoff of about one second (1 s with ±10 % jitter) per retry.
"""

import pytest
from runtype import RuntypeClient
from runtype._generated.core.api_error import ApiError

import journal
from conftest import API_KEY, RECORD_ID, make_step_result

STEP_RESULTS_PATH = f"/v1/records/{RECORD_ID}/step-results"


@pytest.fixture
def official_client(live_server, seeded):
    seeded({"stepResults": [make_step_result(index) for index in range(3)]})
    with RuntypeClient(api_key=API_KEY, base_url=live_server.url) as client:
        yield client


def schedule(app, **fault):
    response = app.test_client().post("/_mock/faults", json=fault)
    assert response.status_code == 201, response.json
    return response.json["id"]


def attempts(app):
    return app.test_client().get(f"/_mock/requests?path={STEP_RESULTS_PATH}").json["requests"]


@pytest.mark.parametrize("status", [503, 429])
def test_client_retries_then_reads(app, official_client, status):
    fault_id = schedule(app, status=status, headers={"Retry-After": "0"}, path="/v1/records/*/step-results")

    page = official_client.api.records.get_record_step_results(RECORD_ID, limit="10")

    assert [step.id for step in page.data] == ["step_result_00002", "step_result_00001", "step_result_00000"]
    journaled = attempts(app)
    assert [(entry["status"], entry["faultId"]) for entry in journaled] == [(status, fault_id), (200, None)]
    assert journaled[0]["query"] == journaled[1]["query"] == {"limit": ["10"]}
    assert {entry["headers"]["Authorization"] for entry in journaled} == {f"Bearer {journal.fingerprint(API_KEY)}"}


def test_client_gives_up_after_retries(app, official_client):
    schedule(app, status=503, times=5, headers={"Retry-After": "0"})

    with pytest.raises(ApiError) as raised:
        official_client.api.records.get_record_step_results(RECORD_ID, request_options={"max_retries": 1})

    assert raised.value.status_code == 503
    assert [entry["status"] for entry in attempts(app)] == [503, 503]
    assert app.test_client().get("/_mock/faults").json["faults"][0]["remaining"] == 3
