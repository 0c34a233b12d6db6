"""Fixtures of the official-client suite: clients of the official `fastvm` package from PyPI,
configured as a user would (API key + base URL), against the session's server."""

from __future__ import annotations

import os
import ssl
import time
import uuid
from typing import List, Optional, Tuple

import fastvm
import httpx
import pytest
from fastvm import FastvmClient

# Which lock file the runner installed: "v1" (every test) or "latest" (the calls whose shape the
# latest release shares with v1). Set by clients/official-python/run.
LANE = os.environ.get("FASTVM_PY_LANE", "v1")


def pytest_report_header(config):
    return f"official client: fastvm {fastvm.__version__} from PyPI (lane {LANE})"


class Recorder:
    """httpx event hooks: what the client really sent and got (retries show as repeats)."""

    def __init__(self) -> None:
        self.sent: List[Tuple[str, str]] = []
        self.http_versions: List[str] = []

    def on_request(self, request: httpx.Request) -> None:
        self.sent.append((request.method, request.url.path))

    def on_response(self, response: httpx.Response) -> None:
        self.http_versions.append(response.http_version)

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p in self.sent if m == method and p == path)

    def hooks(self) -> dict:
        return {"request": [self.on_request], "response": [self.on_response]}


@pytest.fixture(scope="session")
def make_client(server):
    """Builds an official client. With a Recorder, its httpx client (HTTP/2 enabled, the package's
    own defaults otherwise) records every request; without one it is the package's default client."""
    made: List[FastvmClient] = []

    def make(api_key: Optional[str] = None, recorder: Optional[Recorder] = None, target=None, **kw) -> FastvmClient:
        target = target or server
        if recorder is not None:
            verify = ssl.create_default_context(cafile=str(target.cert)) if hasattr(target, "cert") else True
            kw["http_client"] = fastvm.DefaultHttpxClient(http2=True, event_hooks=recorder.hooks(), verify=verify)
        c = FastvmClient(api_key=api_key if api_key is not None else target.api_key, base_url=target.base_url, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture(scope="session")
def client(make_client) -> FastvmClient:
    """The official client as a user builds it: FastvmClient(api_key=..., base_url=...)."""
    return make_client()


@pytest.fixture(scope="session")
def run_id() -> str:
    """Tags this run's VMs (metadata run=<id>) so list filters see only ours."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def launch(client, run_id):
    """Launches VMs for one test (blocks until running) and deletes them after it."""
    vms = []

    def do(c: Optional[FastvmClient] = None, **params):
        c = c or client
        if "snapshot_id" not in params:
            params.setdefault("machine_type", "c1m2")
        meta = dict(params.pop("metadata", {}) or {})
        meta.setdefault("run", run_id)
        vm = c.vms.launch(metadata=meta, **params)
        vms.append((c, vm.id))
        return vm

    yield do
    for c, vm_id in vms:
        try:
            c.vms.delete(vm_id)
        except fastvm.NotFoundError:
            pass


@pytest.fixture(scope="module")
def running_vm(client, run_id):
    """One running VM shared by a module's tests (exec, firewall): saves a boot per test."""
    vm = client.vms.launch(machine_type="c1m2", name="suite-shared", metadata={"run": run_id})
    yield vm
    try:
        client.vms.delete(vm.id)
    except fastvm.NotFoundError:
        pass


def wait_snapshot(client: FastvmClient, snapshot_id: str, timeout: float = 120.0):
    """Polls GET /v1/snapshots/{id} until ready or error, as the official clients do."""
    deadline = time.monotonic() + timeout
    while True:
        s = client.snapshots.retrieve(snapshot_id)
        if s.status in ("ready", "error"):
            return s
        if time.monotonic() > deadline:
            raise AssertionError(f"snapshot {snapshot_id} still {s.status} after {timeout} s")
        time.sleep(0.25)


def firewall_shape_is_v1() -> Tuple[bool, str]:
    """Whether the installed client's firewall models are the v1 shape of docs/api/openapi.yaml."""
    from fastvm.types.shared import FirewallPolicy, FirewallRule

    want_rule = {"protocol": "protocol", "port_start": "portStart", "port_end": "portEnd",
                 "source_cidrs": "sourceCidrs", "description": "description"}
    rule = {name: (f.alias or name) for name, f in FirewallRule.model_fields.items()}
    policy = set(FirewallPolicy.model_fields)
    if rule != want_rule or policy != {"mode", "ingress"}:
        return False, f"FirewallRule fields {rule}, FirewallPolicy fields {sorted(policy)}"
    return True, ""


@pytest.fixture
def v1_firewall():
    """For tests of the v1 firewall shape: in lane v1 a client of another shape is a failure; in
    lane latest such a release skips them, saying why (the shapes differ by design there)."""
    ok, why = firewall_shape_is_v1()
    if not ok:
        if LANE == "v1":
            pytest.fail(f"fastvm {fastvm.__version__} is pinned as the v1 lane but its firewall shape differs: {why}")
        pytest.skip(f"fastvm {fastvm.__version__}: firewall shape is not v1 ({why})")
