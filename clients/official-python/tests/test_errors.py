"""Errors through the official client: 404, 401, 400 map to its exception types, carry the
documented error body, and are not retried (x-should-retry: false) (docs/api.md, Errors)."""

import fastvm
import pytest

from conftest import Recorder

UNKNOWN = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize("vm_id", [UNKNOWN, "not-a-uuid", "a%2Fb"])
def test_unknown_or_malformed_vm_id_is_404_sent_once(make_client, vm_id):
    rec = Recorder()
    c = make_client(recorder=rec)
    with pytest.raises(fastvm.NotFoundError) as e:
        c.vms.retrieve(vm_id)
    assert e.value.status_code == 404
    assert e.value.body["error"] == "not_found"
    assert e.value.body["message"]
    assert e.value.response.headers.get("x-should-retry") == "false"
    assert e.value.response.headers.get("content-type", "").startswith("application/json")
    assert len(rec.sent) == 1


def test_every_vm_and_snapshot_call_on_an_unknown_id_is_404(client):
    calls = [
        lambda: client.vms.update(UNKNOWN, name="x"),
        lambda: client.vms.delete(UNKNOWN),
        lambda: client.vms.set_firewall(UNKNOWN, mode="open"),
        lambda: client.vms.patch_firewall(UNKNOWN, mode="open"),
        lambda: client.snapshots.retrieve(UNKNOWN),
        lambda: client.snapshots.update(UNKNOWN, name="x"),
        lambda: client.snapshots.delete(UNKNOWN),
    ]
    for call in calls:
        with pytest.raises(fastvm.NotFoundError):
            call()


@pytest.mark.parametrize("key", ["fvm_unknown-key", "nonsense"])
def test_bad_key_is_401_sent_once(make_client, key):
    rec = Recorder()
    c = make_client(api_key=key, recorder=rec)
    with pytest.raises(fastvm.AuthenticationError) as e:
        c.vms.list()
    assert e.value.status_code == 401
    assert e.value.body["error"] == "unauthorized"
    assert e.value.response.headers.get("x-should-retry") == "false"
    assert len(rec.sent) == 1
    with pytest.raises(fastvm.AuthenticationError):
        c.quotas.retrieve()


def test_revoked_key_is_401(server, make_client):
    key = server.create_key("py-revoked")
    c = make_client(api_key=key)
    assert c.vms.list() == []
    key_id = [line.split()[0] for line in server.admin("keys", "list", "--org", "py-revoked").splitlines()[1:]]
    assert len(key_id) == 1
    server.admin("keys", "revoke", key_id[0])
    import time
    deadline = time.monotonic() + 15  # revocation is effective within 5 s (lookup cache)
    while True:
        try:
            c.vms.list()
        except fastvm.AuthenticationError:
            break
        assert time.monotonic() < deadline, "revoked key still accepted after 15 s"
        time.sleep(0.5)
