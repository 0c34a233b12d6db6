"""Exec through the official client: buffered (vms.run) and NDJSON streaming (vms.stream)
(docs/api.md, Exec)."""

import base64

import fastvm
import pytest


def test_run_buffered_shell_string(client, running_vm):
    r = client.vms.run(running_vm.id, command="echo out; echo err >&2")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "out\n", "err\n")
    assert (r.timed_out, r.stdout_truncated, r.stderr_truncated) == (False, False, False)
    assert r.duration_ms >= 0


def test_run_buffered_argv(client, running_vm):
    r = client.vms.run(running_vm.id, command=["printf", "%s|", "a b", "c"])
    assert (r.exit_code, r.stdout) == (0, "a b|c|")


def test_nonzero_exit_is_a_result_not_an_error(client, running_vm):
    r = client.vms.run(running_vm.id, command="exit 7")
    assert r.exit_code == 7 and not r.timed_out


def test_timeout_sec_sets_timed_out(client, running_vm):
    r = client.vms.run(running_vm.id, command="echo started; sleep 30", timeout_sec=1)
    assert r.timed_out is True
    assert r.stdout == "started\n"
    assert r.duration_ms < 15_000


def test_stdin_is_written_then_closed(client, running_vm):
    data = "line one\nline two\n"
    r = client.vms.run(running_vm.id, command=["wc", "-l"], stdin=base64.b64encode(data.encode()).decode())
    assert (r.exit_code, r.stdout.strip()) == (0, "2")


def test_buffered_output_is_capped_at_4_mib(client, running_vm):
    r = client.vms.run(running_vm.id, command="head -c 4194400 /dev/zero | tr '\\0' x", timeout_sec=60)
    assert r.exit_code == 0
    assert r.stdout_truncated is True and not r.stderr_truncated
    assert len(r.stdout) == 4 * 1024 * 1024


def test_stream_yields_output_then_one_exit_event(client, running_vm):
    events = list(client.vms.stream(running_vm.id, command="echo one; sleep 0.2; echo two >&2; echo three; exit 3"))
    assert events[-1].type == "x"
    assert [e.type for e in events[:-1] if e.type == "x"] == []
    out = b"".join(e.data for e in events if e.type == "o")
    err = b"".join(e.data for e in events if e.type == "e")
    assert (out, err) == (b"one\nthree\n", b"two\n")
    assert (events[-1].exit_code, events[-1].timed_out) == (3, False)
    assert events[-1].duration_ms is not None and events[-1].duration_ms >= 200


def test_stream_exit_zero_and_timeout(client, running_vm):
    ok = list(client.vms.stream(running_vm.id, command=["true"]))
    assert [(e.type, e.exit_code, e.timed_out) for e in ok] == [("x", 0, False)]
    slow = list(client.vms.stream(running_vm.id, command="sleep 30", timeout_sec=1))
    assert slow[-1].type == "x" and slow[-1].timed_out is True


def test_stream_is_not_capped(client, running_vm):
    size = 4 * 1024 * 1024 + 4096
    events = list(client.vms.stream(running_vm.id, command=f"head -c {size} /dev/zero | tr '\\0' y", timeout_sec=60))
    assert sum(len(e.data) for e in events if e.type == "o") == size
    assert events[-1].exit_code == 0


def test_exec_on_an_unknown_vm_is_404(client):
    with pytest.raises(fastvm.NotFoundError):
        client.vms.run("00000000-0000-0000-0000-000000000000", command="true")


def test_stream_on_an_unknown_vm_is_404(client):
    with pytest.raises(fastvm.APIStatusError) as e:
        list(client.vms.stream("00000000-0000-0000-0000-000000000000", command="true"))
    assert e.value.status_code == 404


def test_empty_command_is_400(client, running_vm):
    with pytest.raises(fastvm.BadRequestError):
        client.vms.run(running_vm.id, command=[])


def test_timeout_sec_must_be_positive(client, running_vm):
    with pytest.raises(fastvm.BadRequestError) as e:
        client.vms.run(running_vm.id, command=["true"], timeout_sec=0)
    assert e.value.body["message"].startswith("timeoutSec")
