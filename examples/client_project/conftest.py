"""This project's tests run against the Runtype mock through its pytest plugin.

The plugin lives in the mock's repository, which must be on PYTHONPATH; see the README of
this folder.
"""

import pytest
from runtype import RuntypeClient

pytest_plugins = ["runtype_mock_plugin"]


@pytest.fixture
def client(runtype_mock):
    """The official client, pointed at the mock with the plugin's key."""
    with RuntypeClient(api_key=runtype_mock.api_key, base_url=runtype_mock.base_url) as client:
        yield client
