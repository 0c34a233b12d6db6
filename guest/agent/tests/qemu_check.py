#!/usr/bin/env python3
"""Checks the agent as PID 1 in real QEMU microVMs (TCG) and prints measured figures.

Not part of `make test` (it needs qemu-system-x86, busybox-static, cpio, e2fsprogs and a
Debian cloud kernel, and takes a minute or two): run `make -C guest/agent qemu-check`.
It builds a throwaway initramfs (busybox + the agent as /init + virtio modules) and an ext4
root disk under WORK, boots them, and checks: boot to HELLO, exec, reconnect stress with
output in flight, HELLO_REQ handshake, the switch to a root disk, GROW_ROOTFS, FS_FREEZE,
NET_CONFIG, SET_TIME/SET_HOSTNAME/ADD_ENTROPY, and snapshot + restore with the host
connecting before and after `cont`. Every QEMU it starts is killed by PID.

Usage: qemu_check.py path/to/fastvm-agent [WORK]   (WORK defaults to /tmp/fastvm-agent-qemu)
"""
import glob
import json
import os
import re
import select
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_agent import (ADD_ENTROPY, ADDR, CODE, DATA, ERROR, FS_FREEZE, FS_SYNC, FS_THAW, GATEWAY,  # noqa: E402
                        GROW_ROOTFS, HELLO, HELLO_REQ, IFNAME, MAC, NAME, NET_CONFIG, NEW_SESSION, OK, MESSAGE, SET_HOSTNAME,
                        SET_TIME, SIZE_BYTES, STARTED, TIME_NS, VERSION, Host)

MODULES = ["virtio_ring", "virtio", "virtio_mmio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev",
           "virtio_pci", "virtio_console", "virtio_blk", "failover", "net_failover", "virtio_net"]
procs = []


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True, **kw).stdout


def kernel(work):
    """Debian's cloud kernel, downloaded (never installed) and unpacked once."""
    found = glob.glob(work + "/kpkg/boot/vmlinuz-*-cloud-amd64")
    if not found:
        names = sh("apt-cache search --names-only '^linux-image-6\\.1\\.0-[0-9]+-cloud-amd64$'").split("\n")
        pkg = max((l.split()[0] for l in names if l), key=lambda n: int(re.findall(r"-(\d+)-cloud", n)[0]))
        sh("cd %s && apt-get download -q %s" % (work, pkg))
        sh("dpkg-deb -x %s/%s_*.deb %s/kpkg" % (work, pkg, work))
        found = glob.glob(work + "/kpkg/boot/vmlinuz-*-cloud-amd64")
    return found[0], glob.glob(work + "/kpkg/lib/modules/*")[0]


def busybox_tree(root):
    os.makedirs(root + "/bin")
    for d in ("dev", "proc", "sys", "run", "tmp", "root", "etc/fastvm", "lib/modules"):
        os.makedirs(root + "/" + d, exist_ok=True)
    os.chmod(root + "/tmp", 0o1777)
    shutil.copy("/bin/busybox", root + "/bin/busybox")
    for applet in sh("/bin/busybox --list").split():
        if not os.path.exists(root + "/bin/" + applet):
            os.symlink("busybox", root + "/bin/" + applet)


def initramfs(work, agent, moddir):
    root = work + "/initramfs"
    shutil.rmtree(root, ignore_errors=True)
    busybox_tree(root)
    shutil.copy(agent, root + "/init")
    paths = []
    for m in MODULES:
        src = sh("find %s -name '%s.ko*'" % (moddir, m)).split()[0]
        shutil.copy(src, root + "/lib/modules/")
        paths.append("/lib/modules/" + os.path.basename(src))
    with open(root + "/etc/fastvm/modules", "w") as fh:
        fh.write("\n".join(paths) + "\n")
    sh("cd %s && find . | cpio -o -H newc --quiet > %s/initrd.cpio" % (root, work))
    return work + "/initrd.cpio"


def root_disk(work):
    root = work + "/diskroot"
    shutil.rmtree(root, ignore_errors=True)
    busybox_tree(root)
    sh("mkfs.ext4 -q -F -d %s %s/disk.img 64M && truncate -s 256M %s/disk.img" % (root, work, work))
    return work + "/disk.img"


class Vm:
    def __init__(self, work, name, kern, initrd, extra=(), kargs="", mem=None, incoming=False):
        self.dir = "%s/%s" % (work, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        argv = ["qemu-system-x86_64", "-M", "microvm,pit=on,pic=on,rtc=on" + (",memory-backend=mem" if mem else ""),
                "-accel", "tcg", "-m", "512M", "-smp", "1", "-nodefaults", "-no-user-config", "-display", "none",
                "-serial", "file:%s/console.log" % self.dir, "-kernel", kern, "-initrd", initrd,
                "-append", "console=ttyS0 quiet reboot=k panic=-1 tsc_early_khz=2500000 lpj=5000000 "
                           "fastvm.hostname=%s %s" % (name, kargs),
                "-device", "virtio-serial-device",
                "-chardev", "socket,id=agent,path=%s/agent.sock,server=on,wait=off" % self.dir,
                "-device", "virtserialport,chardev=agent,name=agent",
                "-qmp", "unix:%s/qmp.sock,server=on,wait=off" % self.dir, *extra]
        if mem:
            argv += ["-object", "memory-backend-file,id=mem,size=512M,mem-path=%s,share=%s" % mem]
        if incoming:
            argv += ["-incoming", "defer"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir + "/qemu.log", "w"))
        procs.append(self.proc)
        self.host = VmHost(self.dir + "/agent.sock")
        self.qmp_sock = None

    def qmp(self, name, **args):
        if not self.qmp_sock:
            self.qmp_sock = wait_connect(self.dir + "/qmp.sock").makefile("rw")
            json.loads(self.qmp_sock.readline())
            self.qmp("qmp_capabilities")
        self.qmp_sock.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.qmp_sock.flush()
        while True:
            r = json.loads(self.qmp_sock.readline())
            if "error" in r:
                raise AssertionError("QMP %s: %s" % (name, r["error"]))
            if "return" in r:
                return r["return"]

    def wait_migration(self):
        while self.qmp("query-migrate").get("status") != "completed":
            time.sleep(0.002)

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        procs.remove(self.proc)


def wait_connect(path, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class VmHost(Host):
    """The host side against QEMU's agent socket: connect, HELLO_REQ, skip to its answer."""

    def __init__(self, path):
        self.path, self.tmp, self.next_id, self.conn, self.rx_bytes = path, "/tmp", 1000, None, 0

    def connect(self, timeout=120, sock=None):
        t0 = time.monotonic()
        self.conn = sock or wait_connect(self.path, timeout)
        self.buf, self.queue = bytearray(), []
        nonce = self.new_id()
        self.request(HELLO_REQ, nonce, (NEW_SESSION, b"\x01"))
        prefix = b"FV\x01\x81" + struct.pack(">I", nonce)
        while prefix not in self.buf:
            left = t0 + timeout - time.monotonic()
            assert left > 0 and select.select([self.conn], [], [], left)[0], "no answer to HELLO_REQ"
            chunk = self.conn.recv(1 << 20)
            assert chunk, "agent socket closed"
            self.buf += chunk
        self.skipped = self.buf.index(prefix)
        del self.buf[:self.skipped]
        self.hello = self.recv(nonce)
        return (time.monotonic() - t0) * 1000

    def wait_unsolicited_hello(self, timeout=10):
        self.conn = wait_connect(self.path)
        self.buf, self.queue = bytearray(), []
        t0 = time.monotonic()
        f = self.recv(timeout=timeout)
        assert f.type == HELLO and f.id == 0, f
        return (time.monotonic() - t0) * 1000


def fig(xs):
    return "min %.1f / median %.1f / max %.1f ms (n=%d)" % (min(xs), statistics.median(xs), max(xs), len(xs))


def check_minimal(work, kern, initrd):
    vm = Vm(work, "minimal", kern, initrd)
    h = vm.host
    t0 = time.monotonic()
    h.connect()
    print("boot (QEMU start -> HELLO answer): %.0f ms" % ((time.monotonic() - t0) * 1000))
    assert h.hello.str(VERSION) == "fastvm-agent/1.0" and h.hello.str(NAME) == "minimal"
    r = h.run(["sh", "-c", "ls -l /proc/$$/fd"])  # nothing of the agent leaks into commands
    assert r.exit.int(CODE) == 0 and not re.search(rb"vport|eventpoll|signalfd|timerfd|console", r.stdout), r.stdout
    rtt = []
    for _ in range(20):
        t = time.monotonic()
        assert h.run(["true"]).exit.int(CODE) == 0
        rtt.append((time.monotonic() - t) * 1000)
    print("exec `true` round trip: " + fig(rtt))
    quick, seen = [], []
    for i in range(40):  # reconnects, half of them with output in flight
        if i % 2 == 0:
            h.start(["sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done"])
        h.disconnect()
        quick.append(h.connect(timeout=10))
    print("reconnect at once, HELLO_REQ answered: " + fig(quick))
    for _ in range(10):
        h.disconnect()
        time.sleep(0.2)  # long enough for the guest to see the host leave
        seen.append(h.wait_unsolicited_hello())
    print("reconnect after 0.2 s, unsolicited HELLO: " + fig(seen))
    t = time.monotonic()
    r = h.collect(h.start(["head", "-c", str(20 << 20), "/dev/zero"]), timeout=120)
    assert len(r.stdout) == 20 << 20
    print("stdout throughput: %.1f MiB/s" % (20 / (time.monotonic() - t)))
    print("agent in guest: " + h.run(["sh", "-c", "grep VmHWM /proc/1/status"]).stdout.decode().strip())
    assert h.call(SET_TIME, (TIME_NS, struct.pack(">Q", time.time_ns() + 3600 * 10 ** 9))).type == OK
    skew = int(h.run(["date", "+%s"]).stdout) - int(time.time())
    assert 3590 < skew < 3610, skew
    assert h.call(SET_HOSTNAME, (NAME, "clone-7")).type == OK
    assert h.run(["hostname"]).stdout == b"clone-7\n"
    assert h.call(ADD_ENTROPY, (DATA, os.urandom(64))).type == OK
    for t in (FS_FREEZE, FS_THAW):  # no root disk: OK, nothing done
        assert h.call(t).type == OK
    assert h.call(GROW_ROOTFS).int(SIZE_BYTES) > 0
    vm.kill()


def check_disk_and_net(work, kern, initrd):
    disk = root_disk(work)
    vm = Vm(work, "disk", kern, initrd, kargs="fastvm.root=/dev/vda",
            extra=["-drive", "file=%s,if=none,format=raw,id=d0" % disk, "-device", "virtio-blk-device,drive=d0",
                   "-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-device,netdev=n0"])
    h = vm.host
    h.connect()
    r = h.run(["sh", "-c", "grep ' / ' /proc/mounts; df -k / | tail -1"])
    assert b"/dev/vda / ext4" in r.stdout, r.stdout
    before = int(r.stdout.split()[-5])
    f = h.call(GROW_ROOTFS)
    assert f.type == OK, f
    after = int(h.run(["sh", "-c", "df -k / | tail -1"]).stdout.split()[1])
    print("root disk: switched; GROW_ROOTFS %d -> %d KiB (SIZE_BYTES %d)" % (before, after, f.int(SIZE_BYTES)))
    assert after > 3 * before
    assert h.call(FS_FREEZE).type == OK
    fid = h.start(["sh", "-c", "echo x > /root/f && echo wrote"])
    assert h.recv(fid).type == STARTED
    try:
        h.recv(fid, timeout=1.0)
        raise AssertionError("a write went through a frozen filesystem")
    except AssertionError as e:
        if "frozen" in str(e):
            raise
    f = h.call(GROW_ROOTFS)  # a resize writes: refused, rather than blocking the agent for good
    assert f.type == ERROR and "frozen" in f.str(MESSAGE), f
    assert h.call(FS_SYNC).type == OK and h.call(FS_FREEZE).type == OK
    assert h.call(FS_THAW).type == OK
    assert h.collect(fid).stdout == b"wrote\n"
    f = h.call(NET_CONFIG, (IFNAME, "eth0"), (MAC, "02:fa:57:00:00:07"),
               (ADDR, "fd00:70::7/64"), (ADDR, "10.9.0.7/24"), (GATEWAY, "fd00:70::1"))
    assert f.type == OK, f.fields
    out = h.run(["sh", "-c", "ip addr show eth0; ip -6 route"]).stdout.decode()
    for want in ("02:fa:57:00:00:07", "fd00:70::7/64", "10.9.0.7/24", "default via fd00:70::1"):
        assert want in out, (want, out)
    f = h.call(NET_CONFIG, (IFNAME, "eth0"), (ADDR, "fd00:70::8/64"))
    out = h.run(["sh", "-c", "ip addr show eth0"]).stdout.decode()
    assert f.type == OK and "fd00:70::8/64" in out and "fd00:70::7" not in out and "10.9.0.7" not in out, out
    print("NET_CONFIG: MAC, IPv6+IPv4, default route, address replacement ok")
    vm.kill()


def check_restore(work, kern, initrd):
    src = Vm(work, "src", kern, initrd, mem=("%s/src.mem" % work, "on"))
    h = src.host
    h.connect()
    bg = int(h.run(["sh", "-c", "echo kept > /tmp/keep; sleep 1000 & echo $!"]).stdout)
    snap = work + "/snap"
    shutil.rmtree(snap, ignore_errors=True)
    os.makedirs(snap)
    src.qmp("stop")
    src.qmp("migrate-set-capabilities", capabilities=[{"capability": "x-ignore-shared", "state": True}])
    src.qmp("migrate", uri="exec:cat > %s/state" % snap)
    src.wait_migration()
    sh("cp --sparse=always %s/src.mem %s/mem" % (work, snap))
    src.kill()
    times = {"before": [], "after": []}
    for when in ["before", "after"] * 3:
        c = Vm(work, "clone", kern, initrd, mem=("%s/mem" % snap, "off"), incoming=True)
        c.qmp("migrate-set-capabilities", capabilities=[{"capability": "x-ignore-shared", "state": True}])
        c.qmp("migrate-incoming", uri="exec:cat %s/state" % snap)
        c.wait_migration()
        sock = wait_connect(c.host.path) if when == "before" else None
        t = time.monotonic()
        c.qmp("cont")
        c.host.connect(sock=sock)
        times[when].append((time.monotonic() - t) * 1000)
        r = c.host.run(["sh", "-c", "cat /tmp/keep; kill -0 %d && echo alive" % bg])
        assert r.stdout == b"kept\nalive\n", r.stdout
        c.kill()
    print("restore, host connected before cont: cont -> HELLO answer " + fig(times["before"]))
    print("restore, host connects after cont:   cont -> HELLO answer " + fig(times["after"]))


def main():
    agent = os.path.abspath(sys.argv[1])
    work = sys.argv[2] if len(sys.argv) > 2 else "/tmp/fastvm-agent-qemu"
    os.makedirs(work, exist_ok=True)
    kern, moddir = kernel(work)
    initrd = initramfs(work, agent, moddir)
    try:
        check_minimal(work, kern, initrd)
        check_disk_and_net(work, kern, initrd)
        check_restore(work, kern, initrd)
    finally:
        for p in list(procs):
            p.kill()
            p.wait()
    print("qemu-check: passed")


if __name__ == "__main__":
    main()
