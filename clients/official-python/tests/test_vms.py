"""VMs through the official client: launch, get, list + filters, rename/metadata, delete
(docs/api.md, VMs)."""

import asyncio
from datetime import datetime

import fastvm
import pytest
from fastvm import AsyncFastvmClient


def test_launch_returns_a_running_vm_with_the_documented_fields(launch, client):
    vm = launch(name="  py   suite\tvm  ", metadata={"team": "py"})
    assert vm.status == "running"
    assert vm.name == "py suite vm"  # trimmed, inner whitespace collapsed
    assert vm.machine_name == "c1m2"
    assert (vm.cpu, vm.memory_mi_b, vm.disk_gi_b) == (1, 2048, 10)
    assert vm.org_id
    assert isinstance(vm.created_at, datetime) and vm.created_at.utcoffset().total_seconds() == 0
    assert vm.metadata["team"] == "py"
    assert not vm.source_name  # fresh boot
    assert vm.deleted_at is None
    # default policy on launch when omitted: restricted, no rules
    assert vm.firewall is not None and vm.firewall.mode == "restricted" and not vm.firewall.ingress


def test_launch_without_a_name_gets_the_default_name(launch):
    vm = launch()
    assert vm.name == "vm-" + vm.id[:8]


def test_long_names_are_truncated_to_64(launch):
    vm = launch(name="n" * 100)
    assert vm.name == "n" * 64


def test_get_returns_the_vm(launch, client):
    vm = launch(name="get-me")
    got = client.vms.retrieve(vm.id)
    assert (got.id, got.name, got.status, got.machine_name) == (vm.id, "get-me", "running", "c1m2")


def test_list_holds_the_vm_and_filters_by_metadata_and_status(launch, client, run_id):
    a = launch(metadata={"role": "api", "env": "prod"})
    b = launch(metadata={"role": "db", "env": "prod"})
    ids = {v.id for v in client.vms.list()}
    assert {a.id, b.id} <= ids

    def ids_for(**query):
        return {v.id for v in client.vms.list(extra_query={"metadata.run": run_id, **query})}

    assert ids_for(**{"metadata.env": "prod"}) >= {a.id, b.id}
    assert ids_for(**{"metadata.role": "api"}) == {a.id}
    assert ids_for(**{"metadata.role": "api", "metadata.env": "prod"}) == {a.id}
    assert ids_for(**{"metadata.role": "nope"}) == set()
    assert {a.id, b.id} <= {v.id for v in client.vms.list(status="running")}
    assert client.vms.list(status="no-such-status") == []


def test_rename_and_metadata_patch(launch, client):
    vm = launch(name="before", metadata={"k": "v"})
    renamed = client.vms.update(vm.id, name="  after   rename ")
    assert renamed.name == "after rename"
    assert renamed.metadata == {"k": "v", "run": vm.metadata["run"]}  # name only: metadata unchanged
    replaced = client.vms.update(vm.id, metadata={"only": "this"})
    assert replaced.metadata == {"only": "this"}
    assert replaced.name == "after rename"
    cleared = client.vms.update(vm.id, metadata={})
    assert not cleared.metadata
    assert client.vms.retrieve(vm.id).name == "after rename"


def test_rename_to_blank_is_400(launch, client):
    vm = launch()
    with pytest.raises(fastvm.BadRequestError) as e:
        client.vms.update(vm.id, name="   ")
    assert e.value.status_code == 400


def test_delete_answers_deleted_and_the_vm_is_gone(client, run_id):
    vm = client.vms.launch(machine_type="c1m2", metadata={"run": run_id})
    d = client.vms.delete(vm.id)
    assert (d.id, d.deleted) == (vm.id, True)
    with pytest.raises(fastvm.NotFoundError):
        client.vms.retrieve(vm.id)
    assert vm.id not in {v.id for v in client.vms.list()}


def test_unknown_machine_type_is_400(client):
    with pytest.raises(fastvm.BadRequestError) as e:
        client.vms.launch(machine_type="c3m7")
    assert e.value.body["error"] == "invalid_request"


def test_async_client_launches_runs_and_deletes(server, run_id):
    async def flow():
        async with AsyncFastvmClient(api_key=server.api_key, base_url=server.base_url) as c:
            assert (await c.health()).status == "ok"
            vm = await c.vms.launch(machine_type="c1m2", metadata={"run": run_id})
            try:
                assert vm.status == "running"
                r = await c.vms.run(vm.id, command="echo async")
                assert (r.exit_code, r.stdout) == (0, "async\n")
                assert vm.id in {v.id for v in await c.vms.list()}
            finally:
                assert (await c.vms.delete(vm.id)).deleted

    asyncio.run(flow())


def test_patch_with_neither_name_nor_metadata_is_400(launch, client):
    vm = launch()
    with pytest.raises(fastvm.BadRequestError):
        client.vms.update(vm.id)


def test_disk_may_only_grow(launch, client):
    vm = launch(disk_gi_b=12)
    assert vm.disk_gi_b == 12
    with pytest.raises(fastvm.BadRequestError):
        client.vms.launch(machine_type="c1m2", disk_gi_b=5)


def test_metadata_limits_are_400(client):
    with pytest.raises(fastvm.BadRequestError):
        client.vms.launch(machine_type="c1m2", metadata={f"k{i}": "v" for i in range(257)})
    with pytest.raises(fastvm.BadRequestError):
        client.vms.launch(machine_type="c1m2", metadata={"k": "v" * 4097})
    with pytest.raises(fastvm.BadRequestError):
        client.vms.launch(machine_type="c1m2", metadata={"": "v"})


def test_launch_answers_201_when_running_with_utc_timestamps(server, client):
    # The package's generated client (fastvm.Fastvm) gives the raw response; FastvmClient's
    # polling launch() wraps it.
    raw = fastvm.Fastvm(api_key=server.api_key, base_url=server.base_url).vms.with_raw_response.launch(
        machine_type="c1m2", name="")
    vm = raw.parse()
    try:
        assert raw.status_code == 201 and vm.status == "running"  # 201 = already running
        assert raw.headers["content-type"].startswith("application/json")
        assert raw.http_response.json()["createdAt"].endswith("Z")
        assert vm.name == "vm-" + vm.id[:8]  # blank name = default
    finally:
        client.vms.delete(vm.id)
