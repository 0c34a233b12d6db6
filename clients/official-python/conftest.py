"""Session fixtures shared by the suite (tests/) and the schemathesis run (schemathesis/):
one real FastVM server per session, stopped by PID at the end whatever happened."""

from __future__ import annotations

import atexit
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fastvm_server import FastVmServer, TlsFastVmServer, delete_all_vms  # noqa: E402

_started = []


def _stop_all_at_exit() -> None:
    # Last resort (an interpreter exit that skipped fixture teardown): never leave a server behind.
    for s in _started:
        s.stop(delete_all_vms)


atexit.register(_stop_all_at_exit)


def _sigterm(signum, frame):
    # CI or a user ending the run: unwind like Ctrl-C so fixture teardown stops the servers.
    raise KeyboardInterrupt(f"signal {signum}")


signal.signal(signal.SIGTERM, _sigterm)


def start_server(kind=FastVmServer, name: str = "main", **kw) -> FastVmServer:
    server = kind(name, **kw)
    _started.append(server)
    try:
        return server.start()
    except BaseException:
        stop_server(server)
        raise


def stop_server(server: FastVmServer) -> None:
    if server in _started:
        _started.remove(server)
    problems = server.stop(delete_all_vms)
    if problems:  # an error at teardown fails the run
        raise AssertionError("server teardown: " + "; ".join(problems))


@pytest.fixture(scope="session")
def server():
    """The main server: cleartext HTTP on 127.0.0.1:<free port>, minimal image, org `default`."""
    s = start_server(name="main")
    yield s
    stop_server(s)


@pytest.fixture(scope="session")
def tls_server():
    """A second server on TLS (certificate made for the run), for HTTP/2 via ALPN."""
    s = start_server(TlsFastVmServer, name="tls")
    yield s
    stop_server(s)
