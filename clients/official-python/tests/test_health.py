"""GET /healthz through the official client (200 with or without a key: docs/api.md)."""

import os

import fastvm
import pytest


def test_health_is_ok(client):
    h = client.health()
    assert h.status == "ok"


def test_health_needs_no_valid_key(make_client):
    # /healthz answers 200 whatever the key; the client sends one anyway.
    assert make_client(api_key="fvm_not-a-key").health().status == "ok"


def test_installed_client_is_the_locked_release():
    # The runner installs one lock file per lane and says which fastvm it pins.
    expected = os.environ.get("FASTVM_PY_EXPECT_VERSION")
    if not expected:
        pytest.skip("run outside clients/official-python/run: no locked version to compare")
    assert fastvm.__version__ == expected
