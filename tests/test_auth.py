"""Authentication and authorization of GET /v1/records/{id}/step-results: the header forms,
unknown, revoked and under-privileged keys, and records of other organizations."""

import logging

import pytest

from conftest import (
    API_KEY, NO_READ_KEY, ORGANIZATION_ID, OTHER_ORG_KEY, OTHER_RECORD_ID, RECORD_ID, REVOKED_KEY, USER_ID,
    make_step_result,
)

URL = f"/v1/records/{RECORD_ID}/step-results"


def get(client, authorization=None, url=URL):
    headers = {} if authorization is None else {"Authorization": authorization}
    return client.get(url, headers=headers)


def add_key(load, key, permissions):
    load({"apiKeys": [{"key": key, "userId": USER_ID, "organizationId": ORGANIZATION_ID, "permissions": permissions}]})


@pytest.fixture
def one_row(seeded):
    seeded({"stepResults": [make_step_result(1)]})
    return seeded


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {API_KEY}",
        f"bearer {API_KEY}",
        f"BEARER {API_KEY}",
        f"bEaReR {API_KEY}",
        f"Bearer  {API_KEY}",
        f"  Bearer {API_KEY}  ",
        API_KEY,
    ],
)
def test_accepted_header_forms(client, one_row, authorization):
    response = get(client, authorization)

    assert response.status_code == 200
    assert [row["id"] for row in response.get_json()["data"]] == ["step_result_00001"]


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Missing Authorization header"),
        ("", "Missing Authorization header"),
        ("   ", "Missing Authorization header"),
        ("Bearer", "Malformed Authorization header"),
        ("Bearer ", "Malformed Authorization header"),
        ("bearer", "Malformed Authorization header"),
        ("Basic x", "Malformed Authorization header"),
        ("Basic dGVzdDp0ZXN0", "Malformed Authorization header"),
        (f"Token {API_KEY}", "Malformed Authorization header"),
        (f"Bearer {API_KEY} extra", "Malformed Authorization header"),
        (f"Bearer Bearer {API_KEY}", "Malformed Authorization header"),
        ("Bearer unknown-key", "Invalid API key"),
        ("unknown-key", "Invalid API key"),
        (f"Bearer {API_KEY.upper()}", "Invalid API key"),
        (f"Bearer {API_KEY}x", "Invalid API key"),
        (f"Bearer {REVOKED_KEY}", "Invalid API key"),
        (REVOKED_KEY, "Invalid API key"),
    ],
)
def test_rejected_with_401(client, one_row, authorization, message):
    response = get(client, authorization)

    assert response.status_code == 401
    assert response.content_type == "application/json"
    assert response.get_json()["error"].startswith(message)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Missing Authorization header; send 'Authorization: Bearer <API key>'"),
        ("Basic x", "Malformed Authorization header; expected 'Bearer <API key>'"),
        ("Bearer unknown-key", "Invalid API key: it is unknown or revoked"),
        (f"Bearer {REVOKED_KEY}", "Invalid API key: it is unknown or revoked"),
    ],
)
def test_401_body(client, one_row, authorization, message):
    assert get(client, authorization).get_json() == {"error": message}


def test_rejected_key_not_echoed(client, one_row):
    secret = "sk-live-5f1e2d3c4b5a"

    response = get(client, f"Bearer {secret}")

    assert response.status_code == 401
    assert secret not in response.get_data(as_text=True)


def test_keys_never_logged(client, one_row, caplog):
    caplog.set_level(logging.DEBUG)

    get(client, f"Bearer {API_KEY}")
    get(client, "Bearer sk-unknown-9a8b7c")
    get(client, f"Bearer {NO_READ_KEY}")

    assert caplog.records
    assert API_KEY not in caplog.text
    assert "sk-unknown-9a8b7c" not in caplog.text
    assert NO_READ_KEY not in caplog.text


@pytest.mark.parametrize(
    ("permissions", "status"),
    [
        (["records:read"], 200),
        (["flows:read", "records:read"], 200),
        (["*"], 200),
        (["flows:read", "*"], 200),
        ([], 403),
        (["flows:read"], 403),
        (["records:write"], 403),
        (["Records:Read"], 403),
        (["records:read "], 403),
    ],
)
def test_permission_checked(client, one_row, permissions, status):
    add_key(one_row, "key-under-test", permissions)

    response = get(client, "Bearer key-under-test")

    assert response.status_code == status


def test_403_names_permission(client, one_row):
    response = get(client, f"Bearer {NO_READ_KEY}")

    assert response.status_code == 403
    assert response.content_type == "application/json"
    assert response.get_json() == {"error": "Forbidden: this API key lacks the 'records:read' permission"}


def test_revoked_star_key_rejected(client, one_row):
    one_row({
        "apiKeys": [
            {"key": "revoked-star", "userId": USER_ID, "organizationId": ORGANIZATION_ID, "permissions": ["*"], "revoked": True}
        ]
    })

    assert get(client, "Bearer revoked-star").status_code == 401


def test_other_organization_own_record(client, one_row):
    response = get(client, f"Bearer {OTHER_ORG_KEY}", f"/v1/records/{OTHER_RECORD_ID}/step-results")

    assert response.status_code == 200
    assert response.get_json()["data"] == []


def test_other_organization_record_is_404(client, one_row):
    foreign = get(client, f"Bearer {API_KEY}", f"/v1/records/{OTHER_RECORD_ID}/step-results")
    missing = get(client, f"Bearer {API_KEY}", "/v1/records/record_missing/step-results")

    assert foreign.status_code == 404
    assert missing.status_code == 404
    assert foreign.content_type == missing.content_type == "application/json"
    assert list(foreign.get_json()) == list(missing.get_json()) == ["error"]
    assert foreign.get_json()["error"].replace(OTHER_RECORD_ID, "ID") == missing.get_json()["error"].replace(
        "record_missing", "ID"
    )


def test_own_record_hidden_from_other_org(client, one_row):
    response = get(client, f"Bearer {OTHER_ORG_KEY}")

    assert response.status_code == 404
    assert "step_result_00001" not in response.get_data(as_text=True)
