"""Property-based tests of the live service against its own OpenAPI document.

Schemathesis generates valid and invalid requests for every operation of ``/openapi.json``
and sends them with the test key to a server on 127.0.0.1. It checks that no response is
a 5xx and that every response conforms to the document. A custom check adds that every 4xx
is JSON with an ``error`` message.
"""

import pytest
import requests
import schemathesis

import demo
import openapi
import openapi_admin
from conftest import API_KEY, ORGANIZATION_ID, USER_ID, make_step_result

# Bounded so that the whole run stays well under a minute on two cores. The admin API gets
# fewer examples: fixture bodies are slow to generate, and a reset may seed the demo data.
MAX_EXAMPLES = 100
MAX_ADMIN_EXAMPLES = 30
STATUSES = ("completed", "failed", "running", "queued", "skipped")

# Rows in two flows and batches, with every status above, a cost, tokens and a null or two,
# so that filters, sorting and paging all have something to work on.
ROWS = [
    make_step_result(
        index,
        flowId=f"flow_{index % 2}",
        batchExecutionId=f"batch_{index % 3}",
        status=STATUSES[index % len(STATUSES)],
        order=index if index % 4 else None,
        estimatedCost=f"0.000{index}5",
        totalTokens=index * 100,
        executionEngine="runtime" if index % 2 else None,
    )
    for index in range(25)
]
# The document's example id, which schemathesis tries first, names a record with rows too.
EXAMPLE_RECORD = {"id": demo.DOCUMENTED_RECORD_ID, "organizationId": ORGANIZATION_ID, "userId": USER_ID}
ROWS += [make_step_result(100 + index, recordId=demo.DOCUMENTED_RECORD_ID) for index in range(3)]

CONFIG = schemathesis.Config.from_dict(
    {
        "headers": {"Authorization": f"Bearer {API_KEY}"},
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES},
        "phases": {"stateful": {"enabled": False}},
        # A from later than to is a 400, and no OpenAPI schema can express that rule
        # between two parameters, so schema-valid requests are not all accepted.
        "checks": {"positive_data_acceptance": {"enabled": False}},
        # The server fixture is set up once per operation and only read, so sharing it
        # across examples is safe.
        "suppress-health-check": ["all"],
        "operations": [
            {"include-tag": openapi_admin.ADMIN_TAG, "generation": {"max-examples": MAX_ADMIN_EXAMPLES}},
        ],
    }
)


@schemathesis.check
def error_body_is_json(ctx, response, case):
    """Every 4xx carries a JSON body with a non-empty ``error`` message."""
    if not 400 <= response.status_code < 500:
        return None

    assert response.headers.get("content-type", [""])[0].startswith("application/json"), (
        f"{response.status_code} is not JSON: {response.headers.get('content-type')}"
    )
    body = response.json()
    assert isinstance(body, dict), f"{response.status_code} body is not an object: {body!r}"
    assert isinstance(body.get("error"), str), f"{response.status_code} body has no error message: {body!r}"
    assert body["error"], f"{response.status_code} body has an empty error message"
    return True


@pytest.fixture
def api_server(seeded, load, live_server):
    """A live server over the base fixture and ROWS, serving the document that was fuzzed."""
    load({"records": [EXAMPLE_RECORD], "stepResults": ROWS})

    served = requests.get(f"{live_server.url}/openapi.json", timeout=10)
    assert served.json() == DOCUMENT, "the served document differs from openapi.build_document()"
    return live_server


# NOTE: schemathesis 4.32.5 cannot load the schema from a fixture under pytest 9.2, because
# schemathesis.pytest.from_fixture reads Node._nodeid, which pytest 9 dropped. So the
# operations are collected from the built document, and the fixture above checks that the
# live server serves exactly that document.
DOCUMENT = openapi.build_document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@schema.parametrize()
def test_api_conforms(case, api_server):
    case.call_and_validate(base_url=api_server.url)

