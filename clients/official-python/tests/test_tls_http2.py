"""The official client on TLS: it negotiates HTTP/2 by ALPN, as it does with the hosted
service (docs/api.md, Transport); the core flow runs over it."""

from concurrent.futures import ThreadPoolExecutor

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

        # 4 MiB of buffered output in one HTTP/2 response (flow control windows refilled)
        big = c.vms.run(vm.id, command="head -c 4194400 /dev/zero | tr '\\0' z", timeout_sec=60)
        assert big.stdout_truncated and len(big.stdout) == 4 * 1024 * 1024

        # concurrent calls share the client's one connection as HTTP/2 streams
        def one(i):
            return c.vms.run(vm.id, command=f"sleep 0.5; echo {i}").stdout

        with ThreadPoolExecutor(max_workers=6) as pool:
            assert list(pool.map(one, range(6))) == [f"{i}\n" for i in range(6)]
    finally:
        c.vms.delete(vm.id)
    assert rec.http_versions and set(rec.http_versions) == {"HTTP/2"}, rec.http_versions
