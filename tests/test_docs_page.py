"""The landing page, the Swagger UI page and its assets, and a real-browser test that the docs
work offline and that "Try it out" with the demo key returns 200."""

import os
import re
import sqlite3
from urllib.parse import urlsplit

import pytest

import demo
import docs
import models
import openapi
from conftest import LiveServer
from service import create_app

CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing that phones home: no updates, sync, QUIC or background requests.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BROWSER_TIMEOUT_MS = 30_000
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
DEMO_AUTH = {"Authorization": f"Bearer {demo.DEMO_API_KEY}"}


@pytest.fixture(scope="module")
def demo_database(tmp_path_factory):
    """A database seeded with the demo data set once per module; seeding takes seconds."""
    path = tmp_path_factory.mktemp("demo") / "demo.db"
    create_app({"DATABASE": path, "SEED_DEMO": True})
    models.database.close()
    return path


@pytest.fixture
def demo_app(demo_database, tmp_path):
    """An app over a fresh copy of the demo database."""
    path = tmp_path / "demo.db"
    with sqlite3.connect(demo_database) as source, sqlite3.connect(path) as target:
        source.backup(target)

    app = create_app({"DATABASE": path, "SEED_DEMO": False, "TESTING": True})
    yield app
    models.database.close()


@pytest.fixture
def demo_client(demo_app):
    return demo_app.test_client()


def page_links(html):
    return re.findall(r'(?:href|src)="([^"]+)"', html)


# -- landing page ------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json, text/html"])
def test_landing_json_for_clients(client, accept):
    response = client.get("/", headers={"Accept": accept} if accept else {})

    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.get_json()["docs"] == "http://localhost/docs"
    assert response.get_json()["openapi"] == "http://localhost/openapi.json"
    assert response.get_json()["endpoints"] == [f"GET {openapi.STEP_RESULTS_PATH}"]


@pytest.mark.parametrize("accept", [BROWSER_ACCEPT, "text/html"])
def test_landing_html_for_browsers(client, accept):
    response = client.get("/", headers={"Accept": accept})
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "/docs" in page_links(html)
    assert "/openapi.json" in page_links(html)
    assert openapi.STEP_RESULTS_PATH in html


def test_landing_links_resolve(client):
    links = page_links(client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True))

    for link in links:
        assert client.get(link).status_code == 200, link


def test_landing_varies_by_accept(client):
    assert "Accept" in client.get("/").vary


def test_landing_examples_succeed(demo_client):
    examples = demo_client.get("/").get_json()["examples"]

    assert len(examples) == len(docs.EXAMPLE_REQUESTS)
    for example in examples:
        assert demo_client.get(example["url"], headers=DEMO_AUTH).status_code == 200, example["url"]
        assert demo.DEMO_API_KEY in example["curl"]


def test_landing_without_demo_key(client):
    body = client.get("/").get_json()

    assert body["demoApiKey"] is None
    assert "<API key>" in body["examples"][0]["curl"]


def test_landing_html_shows_demo_key(demo_client):
    html = demo_client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)

    assert demo.DEMO_API_KEY in html


# -- docs page and assets ----------------------------------------------------------------------


def test_docs_page_offline(client):
    response = client.get("/docs")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "://" not in html
    assert '"validatorUrl": null' in html
    assert '"url": "/openapi.json"' in html


def test_docs_assets_served(client):
    links = page_links(client.get("/docs").get_data(as_text=True))

    assert links
    for link in links:
        assert link.startswith(docs.ASSETS_PATH + "/")
        assert client.get(link).status_code == 200, link


def test_docs_unknown_asset_404(client):
    response = client.get(f"{docs.ASSETS_PATH}/index.html")

    assert response.status_code == 404
    assert response.is_json


def test_docs_authorized_with_demo_key(demo_client):
    assert demo.DEMO_API_KEY in demo_client.get("/docs").get_data(as_text=True)


def test_docs_without_demo_key(client):
    html = client.get("/docs").get_data(as_text=True)

    assert demo.DEMO_API_KEY not in html
    assert "const demoApiKey = null;" in html


# -- real browser ------------------------------------------------------------------------------


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)"
            " to run the browser test of /docs; 'make test' does so in CI"
        )
    sync_api = pytest.importorskip("playwright.sync_api")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def demo_server(demo_app):
    server = LiveServer(demo_app)
    server.start()
    yield server
    server.stop()


def test_docs_try_it_out(browser, demo_server):
    page = browser.new_page()
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    requested, failed, errors = [], [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page.on("response", lambda response: response.status >= 400 and failed.append(f"{response.url}: {response.status}"))
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(f"{demo_server.url}/docs")
    operation = page.locator(".opblock-summary", has_text=openapi.STEP_RESULTS_PATH)
    operation.wait_for()
    operation.click()
    page.locator("button.try-out__btn").click()
    page.locator("button.execute").click()
    status = page.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for()

    assert status.inner_text().strip() == "200"
    assert page.locator(f"input[value='{demo.DOCUMENTED_RECORD_ID}']").count() == 1
    assert failed == []
    assert errors == []
    assert {urlsplit(url).netloc for url in requested} == {urlsplit(demo_server.url).netloc}
    assert any(openapi.STEP_RESULTS_PATH.replace("{id}", demo.DOCUMENTED_RECORD_ID) in url for url in requested)
