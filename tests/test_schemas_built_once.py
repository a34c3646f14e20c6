"""Requests build no marshmallow schema: the endpoint's schemas are built once, at import."""

import marshmallow
import pytest

from conftest import AUTH, RECORD_ID, make_step_result

URL = f"/v1/records/{RECORD_ID}/step-results"

REQUESTS = [
    "",
    "?limit=3&offset=2",
    "?status=failed,completed&flowId=flow_a&batchId=batch_1",
    "?from=2024-06-01&to=2024-06-02T00:00:00Z&sortBy=estimatedCost&sortOrder=asc",
    "?sortBy=durationMs",
    "?limit=0",
    "?status=done",
]


@pytest.fixture
def schema_inits(monkeypatch):
    """Count every marshmallow Schema built from now on."""
    built = []
    original = marshmallow.Schema.__init__

    def counting_init(self, *args, **kwargs):
        built.append(type(self).__name__)
        original(self, *args, **kwargs)

    monkeypatch.setattr(marshmallow.Schema, "__init__", counting_init)
    return built


@pytest.mark.parametrize("query", REQUESTS)
def test_request_builds_no_schema(seeded, client, schema_inits, query):
    seeded({"stepResults": [make_step_result(index, estimatedCost="0.0045") for index in range(5)]})
    schema_inits.clear()

    response = client.get(URL + query, headers=AUTH)

    assert response.status_code in (200, 400)
    assert schema_inits == []


def test_missing_record_builds_no_schema(seeded, client, schema_inits):
    response = client.get("/v1/records/no_such_record/step-results", headers=AUTH)

    assert response.status_code == 404
    assert schema_inits == []


def test_counting_sees_a_new_schema(schema_inits):
    # guards the two tests above: the counter does see a schema built now
    import schemas

    schemas.StepResultSchema(many=True)

    assert schema_inits == ["StepResultSchema"]
