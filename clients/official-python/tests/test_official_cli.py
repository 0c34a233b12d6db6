"""The official package's own command line (`fastvm` from PyPI, not ours) against the server:
it is a second real client of the same REST API, built on the async client."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import wait_snapshot

CLI = str(Path(sys.executable).parent / "fastvm")


@pytest.fixture(scope="module")
def cli(server, tmp_path_factory):
    # A config dir of its own: the official CLI keeps settings in $XDG_CONFIG_HOME/fastvm/config.toml.
    env = dict(os.environ, FASTVM_API_KEY=server.api_key, FASTVM_BASE_URL=server.base_url,
               XDG_CONFIG_HOME=str(tmp_path_factory.mktemp("official-cli-config")))

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=180,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"fastvm {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def run_json(*args: str):
        return json.loads(run("--json", *args).stdout)

    run.json = run_json
    return run


def test_cli_run_launches_runs_and_deletes(cli, client):
    before = {v.id for v in client.vms.list()}
    r = cli("run", "-m", "c1m2", "--", "echo from-cli; echo warn >&2; exit 5", check=False)
    assert r.returncode == 5, r.stderr
    assert r.stdout == "from-cli\n"
    assert "warn" in r.stderr
    assert {v.id for v in client.vms.list()} == before  # the ephemeral VM is gone


def test_cli_vm_and_firewall_and_snapshot_commands(cli, client):
    vm = cli.json("vm", "launch", "--name", "cli-vm")
    try:
        assert (vm["status"], vm["name"], vm["machineName"]) == ("running", "cli-vm", "c1m2")
        assert vm["id"] in {v["id"] for v in cli.json("vm", "ls")}
        assert cli.json("vm", "get", vm["id"])["id"] == vm["id"]
        cli("vm", "rename", vm["id"], "cli-renamed")
        assert client.vms.retrieve(vm["id"]).name == "cli-renamed"

        r = cli("vm", "exec", vm["id"], "--", "echo $((6*7))")
        assert r.stdout == "42\n"

        cli("firewall", "set", vm["id"], "--mode", "restricted", "-r", "tcp:80", "-r", "udp:5000-5010")
        fw = client.vms.retrieve(vm["id"]).firewall
        assert [(x.protocol, x.port_start, x.port_end) for x in fw.ingress] == [("tcp", 80, 80), ("udp", 5000, 5010)]
        cli("firewall", "patch", vm["id"], "--mode", "open")
        fw = client.vms.retrieve(vm["id"]).firewall
        assert fw.mode == "open" and len(fw.ingress) == 2

        snap = cli.json("snapshot", "create", vm["id"], "--name", "cli-snap")
        assert wait_snapshot(client, snap["id"]).status == "ready"
        assert snap["id"] in {s["id"] for s in cli.json("snapshot", "ls")}
        cli("snapshot", "rename", snap["id"], "cli-snap-2")
        clone = cli.json("snapshot", "restore", snap["id"], "--name", "cli-clone")
        try:
            assert clone["status"] == "running" and clone["sourceName"] == "cli-snap-2"
        finally:
            cli("vm", "rm", "-y", clone["id"])
        cli("snapshot", "rm", "-y", snap["id"])
        assert snap["id"] not in {s.id for s in client.snapshots.list()}

        q = cli.json("quota")
        assert q["limits"]["vcpu"] == 16 and q["usage"]["vcpu"] >= 1
    finally:
        cli("vm", "rm", "-y", vm["id"])
    assert vm["id"] not in {v.id for v in client.vms.list()}
