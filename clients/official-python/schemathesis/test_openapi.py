"""Schemathesis against the server's own OpenAPI document (GET /v1/openapi.json): for every
operation, a bounded number of generated requests (FASTVM_SCHEMATHESIS_MAX_EXAMPLES, default 25,
derandomized so a run is repeatable), each answered without a 5xx and as the document says
(status code, content type, headers, body schema).

Runs only with `clients/official-python/run --schemathesis` (its own virtual environment,
requirements/schemathesis.txt); ./run-tests does not pass that flag yet. A server that does not
serve /v1/openapi.json FAILS the test (it never skips).

FASTVM_OPENAPI_SPEC=<file> loads the document from a file instead (JSON or YAML), still against
the real server: to try a draft spec before the server serves it.

The requests carry the key of an org of their own with a small quota (2 vCPUs, 2 snapshots), so
generated launches stay few; the session teardown deletes every VM they made.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = int(os.environ.get("FASTVM_SCHEMATHESIS_MAX_EXAMPLES", "25"))

# No 5xx, no schema violations: exactly these checks (not the stricter positive/negative data
# acceptance heuristics, which judge the spec's precision rather than the server).
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@pytest.fixture(scope="session")
def fuzz_key(server):
    key = server.create_key("schemathesis")
    server.set_quota("schemathesis", vcpu=2, snapshots=2)
    return key


@pytest.fixture(scope="session")
def api_schema(server):
    spec_file = os.environ.get("FASTVM_OPENAPI_SPEC", "").strip()
    if spec_file:
        schema = schemathesis.openapi.from_path(spec_file)
    else:
        url = server.base_url + "/v1/openapi.json"
        # Sent with a key: whether the document is public or not, this reads it.
        auth = {"X-API-Key": server.api_key}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=30) as r:
                if r.status != 200:
                    pytest.fail(f"GET /v1/openapi.json answered {r.status}")
        except urllib.error.HTTPError as e:
            pytest.fail(f"the server does not serve its OpenAPI document: GET /v1/openapi.json answered {e.code}"
                        " (the server serves docs/api/openapi.yaml there as JSON)")
        schema = schemathesis.openapi.from_url(url, headers=auth)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@pytest.mark.timeout(1800)  # one pytest item runs every operation (as subtests)
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_operation_conforms(case, server, fuzz_key):
    case.call_and_validate(base_url=server.base_url, headers={"X-API-Key": fuzz_key}, checks=CHECKS, timeout=120)
