"""Snapshot and restore through the official client (docs/api.md, Snapshots;
restore = POST /v1/vms {snapshotId})."""

import fastvm
import pytest

from conftest import wait_snapshot


def test_snapshot_restore_round_trip(client, launch):
    src = launch(name="snap-source", firewall={"mode": "restricted", "ingress": [{"protocol": "tcp", "port_start": 443}]})
    assert client.vms.run(src.id, command="echo kept > /tmp/marker").exit_code == 0

    snap = client.snapshots.create(vm_id=src.id, name="py-snap")
    assert (snap.vm_id, snap.name) == (src.id, "py-snap")
    assert snap.status in ("creating", "ready")
    snap = wait_snapshot(client, snap.id)
    assert snap.status == "ready"
    assert snap.firewall.mode == "restricted"  # captured from the VM
    assert snap.id in {s.id for s in client.snapshots.list()}

    renamed = client.snapshots.update(snap.id, name="py-snap-renamed")
    assert renamed.name == "py-snap-renamed"
    assert client.snapshots.retrieve(snap.id).name == "py-snap-renamed"

    clone = launch(snapshot_id=snap.id, name="clone")
    assert clone.status == "running"
    assert clone.source_name == "py-snap-renamed"
    assert clone.machine_name == src.machine_name and clone.cpu == src.cpu
    assert clone.firewall.mode == "restricted"  # the snapshot's firewall applies
    assert [r.port_start for r in clone.firewall.ingress] == [443]
    r = client.vms.run(clone.id, command="cat /tmp/marker")
    assert (r.exit_code, r.stdout) == (0, "kept\n")

    # the source runs on, independent of its clone
    assert client.vms.run(src.id, command="echo src > /tmp/marker").exit_code == 0
    assert client.vms.run(clone.id, command="cat /tmp/marker").stdout == "kept\n"

    # a restore may override the firewall
    opened = launch(snapshot_id=snap.id, firewall={"mode": "open"})
    assert opened.firewall.mode == "open" and not opened.firewall.ingress

    d = client.snapshots.delete(snap.id)
    assert (d.id, d.deleted) == (snap.id, True)
    with pytest.raises(fastvm.NotFoundError):
        client.snapshots.retrieve(snap.id)
    # clones keep running after their snapshot is deleted
    assert client.vms.run(clone.id, command="true").exit_code == 0


def test_snapshot_default_name(client, launch):
    vm = launch()
    snap = client.snapshots.create(vm_id=vm.id)
    try:
        assert snap.name == "snapshot-" + vm.id[:8]
        assert wait_snapshot(client, snap.id).status == "ready"
    finally:
        client.snapshots.delete(snap.id)


def test_snapshot_of_an_unknown_vm_is_404(client):
    with pytest.raises(fastvm.NotFoundError):
        client.snapshots.create(vm_id="00000000-0000-0000-0000-000000000000")


def test_restore_from_an_unknown_snapshot_is_404(client):
    with pytest.raises(fastvm.NotFoundError):
        client.vms.launch(snapshot_id="00000000-0000-0000-0000-000000000000")


def test_snapshot_create_is_201_and_restore_before_ready_is_409_not_retried(server, make_client, launch):
    from conftest import Recorder

    rec = Recorder()
    c = make_client(recorder=rec)
    vm = launch(c)
    raw = fastvm.Fastvm(api_key=server.api_key, base_url=server.base_url).snapshots.with_raw_response.create(vm_id=vm.id)
    snap = raw.parse()
    try:
        assert raw.status_code == 201 and snap.status == "creating"
        assert raw.http_response.json()["createdAt"].endswith("Z")
        # A snapshot takes seconds under TCG; this restore is sent at once, while it is creating.
        with pytest.raises(fastvm.ConflictError) as e:
            c.vms.launch(snapshot_id=snap.id)
        assert e.value.body["error"] == "conflict"
        assert e.value.response.headers.get("x-should-retry") == "false"
        assert rec.count("POST", "/v1/vms") == 2  # the launch, then the 409 once: not retried
        assert wait_snapshot(c, snap.id).status == "ready"
    finally:
        c.snapshots.delete(snap.id)
