"""The official client on TLS: it negotiates HTTP/2 by ALPN, as it does with the hosted
service (contract §1 HTTP versions); the core flow runs over it."""

import fastvm
import pytest

from conftest import Recorder


@pytest.fixture(scope="module")
def tls_client(make_client, tls_server, monkeypatch_module):
    # vms.stream() opens its own httpx connection, which trusts SSL_CERT_FILE.
    monkeypatch_module.setenv("SSL_CERT_FILE", str(tls_server.cert))
    rec = Recorder()
    return make_client(recorder=rec, target=tls_server), rec


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_http2_over_tls(tls_client, run_id):
    c, rec = tls_client
    assert c.health().status == "ok"
    vm = c.vms.launch(machine_type="c1m2", metadata={"run": run_id})
    try:
        assert vm.status == "running"
        r = c.vms.run(vm.id, command="echo over h2")
        assert (r.exit_code, r.stdout) == (0, "over h2\n")
        events = list(c.vms.stream(vm.id, command="echo streamed"))
        assert b"".join(e.data for e in events if e.type == "o") == b"streamed\n"
        assert events[-1].exit_code == 0
        with pytest.raises(fastvm.NotFoundError):
            c.vms.retrieve("00000000-0000-0000-0000-000000000000")
    finally:
        c.vms.delete(vm.id)
    assert rec.http_versions and set(rec.http_versions) == {"HTTP/2"}, rec.http_versions
