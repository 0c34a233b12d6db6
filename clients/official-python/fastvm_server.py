"""Starts and stops a real FastVM server (the CLI jar's `serve`) for the suite.

The server runs on a temp data dir, a free loopback port (bind port 0; the server prints the
address it got), the `minimal` guest image and no metrics listener. Guest images come from the
shared engine cache the Maven tests use (FASTVM_CACHE_DIR, else FASTVM_DATA_DIR, else
~/.local/share/fastvm), so a machine builds its guest kernel once. The first start creates the
org `default` and its key, written to <tmp>/config.json.

`stop()` deletes every VM the server still has (QEMU outlives the server by design), stops the
server by its PID (SIGTERM, then SIGKILL), kills any process that still names the temp dir (a
leak, reported), and removes the temp dir.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parents[2]

_SERVING = re.compile(r"^fastvm: serving (\S+) ")


def shared_cache_dir() -> Path:
    """The engine's shared image cache, as EngineConfig.sharedCacheDir() finds it."""
    for var in ("FASTVM_CACHE_DIR", "FASTVM_DATA_DIR"):
        v = os.environ.get(var, "").strip()
        if v:
            return Path(v).resolve()
    return Path.home() / ".local" / "share" / "fastvm"


def java_binary() -> str:
    home = os.environ.get("JAVA_HOME", "").strip()
    if not home:
        raise RuntimeError("JAVA_HOME is not set: run the suite through clients/official-python/run")
    return str(Path(home) / "bin" / "java")


def built_jar() -> Path:
    jar = Path(os.environ.get("FASTVM_JAR", "") or REPO / "cli" / "target" / "fastvm.jar")
    if not jar.is_file():
        raise RuntimeError(f"{jar} is missing: build it first (./mvnw -B -ntp -pl cli -am package -DskipTests)")
    return jar


class FastVmServer:
    """One `fastvm serve` process and its temp dir."""

    def __init__(self, name: str, extra_args: Optional[List[str]] = None, start_timeout: float = 900.0):
        self.name = name
        self.tmp = Path(tempfile.mkdtemp(prefix=f"fastvm-py-{name}-"))
        self.data_dir = self.tmp / "data"
        self.config_path = self.tmp / "config.json"
        self.stdout_path = self.tmp / "server.out"
        self.stderr_path = self.tmp / "server.err"
        # Our own copy of the jar: a rebuild during the run cannot pull classes from under it.
        self.jar = self.tmp / "fastvm.jar"
        shutil.copyfile(built_jar(), self.jar)
        self.env = dict(os.environ)
        self.env["FASTVM_HOME"] = str(REPO)
        self.env["FASTVM_CACHE_DIR"] = str(shared_cache_dir())
        for var in ("FASTVM_DATA_DIR", "FASTVM_BIND", "FASTVM_CLIENT_CONFIG", "FASTVM_API_KEY", "FASTVM_BASE_URL"):
            self.env.pop(var, None)
        self.extra_args = list(extra_args or [])
        self.start_timeout = start_timeout
        self.proc: Optional[subprocess.Popen] = None
        self.base_url = ""
        self.api_key = ""
        self.keys: List[str] = []  # every key of the run: teardown deletes the VMs of each

    # ------------------------------------------------------------------ start / stop

    def start(self) -> "FastVmServer":
        cmd = [java_binary(), "-jar", str(self.jar), "serve",
               "--data-dir", str(self.data_dir),
               "--bind", "127.0.0.1:0",
               "--image", "minimal",
               "--metrics-bind", "off",
               "--client-config", str(self.config_path),
               *self.extra_args]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         cwd=self.tmp)
        deadline = time.monotonic() + self.start_timeout
        while not self.base_url:
            self._check_alive("before it served")
            for line in self.stdout_path.read_text(errors="replace").splitlines():
                m = _SERVING.match(line)
                if m:
                    self.base_url = m.group(1)
            if time.monotonic() > deadline:
                raise RuntimeError(f"server {self.name} did not serve within {self.start_timeout:.0f} s"
                                   f"\n{self.log_tail()}")
            time.sleep(0.1)
        while not self._ready():
            self._check_alive("before /readyz answered 200")
            if time.monotonic() > deadline:
                raise RuntimeError(f"server {self.name}: /readyz not 200 within {self.start_timeout:.0f} s"
                                   f"\n{self.log_tail()}")
            time.sleep(0.1)
        cfg = json.loads(self.config_path.read_text())
        self.api_key = cfg["apiKey"]
        self.keys.append(self.api_key)
        if cfg["baseUrl"].rstrip("/") != self.base_url.rstrip("/"):
            raise RuntimeError(f"client config names {cfg['baseUrl']}, the server said {self.base_url}")
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.base_url + "/readyz", timeout=5, context=self._ssl_context()) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _ssl_context(self):
        return None

    def _check_alive(self, when: str) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"server {self.name} exited with {self.proc.returncode} {when}\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for p in (self.stdout_path, self.stderr_path):
            if p.exists():
                text = p.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {p.name}\n" + "\n".join(text))
        return "\n".join(parts)

    def stop(self, delete_vms) -> List[str]:
        """Deletes the server's VMs (delete_vms(server) does it through the API), stops the server
        by PID, kills leftovers under the temp dir, removes the temp dir. Returns the problems seen
        (leaked processes, a server that needed SIGKILL), for the caller to report."""
        problems: List[str] = []
        try:
            if self.proc is not None and self.proc.poll() is None and self.api_key:
                try:
                    delete_vms(self)
                except Exception as e:  # the server may be the thing that broke
                    problems.append(f"deleting the VMs of server {self.name} failed: {e!r}")
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    problems.append(f"server {self.name} (pid {self.proc.pid}) ignored SIGTERM for 30 s: killed")
                    self.proc.kill()
                    self.proc.wait(timeout=30)
            for pid, cmdline in processes_naming(str(self.tmp)):
                problems.append(f"process {pid} still ran under {self.tmp} after the server stopped: killed ({cmdline[:200]})")
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            shutil.rmtree(self.tmp, ignore_errors=True)
        return problems

    # ------------------------------------------------------------------ admin commands

    def admin(self, *args: str) -> str:
        """Runs an admin command of the CLI (keys, quota) on this server's data dir; returns stdout."""
        cmd = [java_binary(), "-jar", str(self.jar), *args, "--data-dir", str(self.data_dir)]
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r.stdout

    def create_key(self, org: str) -> str:
        """`fastvm keys create --org ORG` (creates the org if new): the key is alone on the last line."""
        key = self.admin("keys", "create", "--org", org).strip().splitlines()[-1].strip()
        self.keys.append(key)
        return key

    def set_quota(self, org: str, **limits: int) -> None:
        flags = {"vcpu": "--vcpu", "memory_mib": "--memory-mib", "disk_gib": "--disk-gib", "snapshots": "--snapshots"}
        args = ["quota", "set", "--org", org]
        for k, v in limits.items():
            args += [flags[k], str(v)]
        self.admin(*args)


def processes_naming(needle: str) -> List[tuple]:
    """(pid, cmdline) of every process whose command line contains needle (QEMU names its VM dir)."""
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        cmdline = raw.replace(b"\0", b" ").decode(errors="replace")
        if needle in cmdline:
            found.append((int(entry), cmdline))
    return found


class TlsFastVmServer(FastVmServer):
    """A server on TLS with a certificate made for the run (ALPN offers h2, then http/1.1)."""

    def __init__(self, name: str, extra_args: Optional[List[str]] = None, start_timeout: float = 900.0):
        super().__init__(name, extra_args, start_timeout)
        self.cert = self.tmp / "cert.pem"
        self.key = self.tmp / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", str(self.key), "-out", str(self.cert)],
                       check=True, capture_output=True, timeout=60)
        self.extra_args += ["--tls-cert", str(self.cert), "--tls-key", str(self.key)]

    def _ssl_context(self):
        import ssl
        return ssl.create_default_context(cafile=str(self.cert))



def delete_all_vms(server: FastVmServer) -> None:
    """Deletes every VM of every org the run made keys for, with plain HTTP (no SDK: the
    teardown must work whatever the client under test does)."""
    ctx = server._ssl_context()
    for key in server.keys:
        req = urllib.request.Request(server.base_url + "/v1/vms", headers={"X-API-Key": key})
        try:
            with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
                vms = json.load(r)
        except urllib.error.HTTPError as e:
            if e.code == 401:  # a key a test revoked: its org made no VMs it could not delete itself
                continue
            raise
        for vm in vms:
            req = urllib.request.Request(server.base_url + "/v1/vms/" + vm["id"], method="DELETE",
                                         headers={"X-API-Key": key})
            try:
                with urllib.request.urlopen(req, timeout=60, context=ctx):
                    pass
            except urllib.error.HTTPError as e:
                if e.code != 404:  # gone meanwhile is fine
                    raise
