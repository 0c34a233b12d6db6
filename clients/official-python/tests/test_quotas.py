"""Quotas through the official client: GET /v1/org/quotas and 429 quota_exceeded, on an org of
its own whose limits `fastvm quota set` made small (docs/api.md, Quotas)."""

import fastvm
import pytest

from conftest import Recorder, wait_snapshot


@pytest.fixture(scope="module")
def small_org(server):
    """A fresh org with its own key: 1 vCPU, 1 snapshot (other limits: the server defaults)."""
    key = server.create_key("py-quota")
    server.set_quota("py-quota", vcpu=1, snapshots=1)
    return key


def test_quotas_show_the_default_limits_and_usage_follows_launches(client, launch):
    before = client.quotas.retrieve()
    assert before.org_id
    assert (before.limits.vcpu, before.limits.memory_mi_b, before.limits.disk_gi_b, before.limits.snapshot_count) \
        == (16, 32768, 500, 50)
    launch(machine_type="c2m4")
    after = client.quotas.retrieve()
    assert after.usage.vcpu - before.usage.vcpu == 2
    assert after.usage.memory_mi_b - before.usage.memory_mi_b == 4096
    assert after.usage.disk_gi_b - before.usage.disk_gi_b == 10


def test_quota_exceeded_is_429_and_not_retried(make_client, small_org, launch):
    rec = Recorder()
    c = make_client(api_key=small_org, recorder=rec)
    q = c.quotas.retrieve()
    assert (q.limits.vcpu, q.limits.snapshot_count) == (1, 1)
    assert q.usage.vcpu == 0

    vm = launch(c)
    assert vm.status == "running"
    assert c.quotas.retrieve().usage.vcpu == 1

    posts = rec.count("POST", "/v1/vms")
    with pytest.raises(fastvm.RateLimitError) as e:
        c.vms.launch(machine_type="c1m2")
    assert e.value.status_code == 429
    assert e.value.body["error"] == "quota_exceeded"
    assert "vcpu" in e.value.body["message"]
    assert e.value.response.headers.get("x-should-retry") == "false"
    assert rec.count("POST", "/v1/vms") == posts + 1  # x-should-retry: false obeyed: sent once

    snap = c.snapshots.create(vm_id=vm.id)
    try:
        assert wait_snapshot(c, snap.id).status == "ready"
        assert c.quotas.retrieve().usage.snapshot_count == 1
        with pytest.raises(fastvm.RateLimitError) as e:
            c.snapshots.create(vm_id=vm.id)
        assert e.value.body["error"] == "quota_exceeded"
        # a restore needs a vCPU the org no longer has
        with pytest.raises(fastvm.RateLimitError):
            c.vms.launch(snapshot_id=snap.id)
    finally:
        c.snapshots.delete(snap.id)
    assert c.quotas.retrieve().usage.snapshot_count == 0


def test_orgs_do_not_see_each_other(make_client, small_org, launch, client):
    mine = launch()
    other = make_client(api_key=small_org)
    with pytest.raises(fastvm.NotFoundError):
        other.vms.retrieve(mine.id)
    assert mine.id not in {v.id for v in other.vms.list()}
