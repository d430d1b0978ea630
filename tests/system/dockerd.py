"""A private dockerd for the plugin tests: its own data root, exec root,
pidfile and socket under a temp dir, no iptables, no bridge, the vfs
storage driver; stopped by PID. And a busybox image made with
`docker import` (there is no registry here)."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import prereq

DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
# Debian's client matches Debian's daemon; a newer client may sit first in PATH
DOCKER = "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker")
BUSYBOX = next((p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(p)), None)


def missing():
    """None when a private dockerd can run here, else the real reason."""
    return prereq.missing(root=True, commands=(DOCKERD, DOCKER or "docker", "busybox"),
                          loop=True, real_root=True)


def available():
    return missing() is None


def mounts_under(root):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == root or mp.startswith(root + "/"):
                out.append(mp)
    return sorted(out, key=len, reverse=True)


class Dockerd:
    def __init__(self):
        # short: containerd's sockets live under the exec root (108-byte limit)
        self.root = tempfile.mkdtemp(prefix="rrd", dir="/tmp")
        self.sock = os.path.join(self.root, "docker.sock")
        self.pidfile = os.path.join(self.root, "docker.pid")
        self.log_path = os.path.join(self.root, "dockerd.log")
        self.proc = None

    def start(self, timeout=60, wrap=()):
        """Start dockerd (behind the command prefix wrap, if any) and wait
        until it answers."""
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            list(wrap) + [DOCKERD, "--data-root", os.path.join(self.root, "data"),
             "--exec-root", os.path.join(self.root, "x"), "--pidfile", self.pidfile,
             "--host", "unix://" + self.sock, "--iptables=false", "--ip6tables=false",
             "--bridge=none", "--storage-driver=vfs", "--log-level=warn"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dockerd exited:\n" + self.log())
            if self.docker("version", check=False).returncode == 0:
                return self
            time.sleep(0.2)
        raise RuntimeError("dockerd did not answer within %ds:\n%s" % (timeout, self.log()))

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def docker(self, *args, check=True, timeout=120):
        p = subprocess.run([DOCKER, "-H", "unix://" + self.sock] + [str(a) for a in args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("docker %s: exit %d\nstdout: %s\nstderr: %s" % (
                " ".join(map(str, args)), p.returncode, p.stdout, p.stderr))
        return p

    def import_busybox(self, tag="bb"):
        """A one-binary image: busybox and the applets the tests use."""
        rootfs = os.path.join(self.root, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"), exist_ok=True)
        os.makedirs(os.path.join(rootfs, "tmp"), exist_ok=True)
        shutil.copy(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
        for applet in ("sh", "cat", "echo", "ls", "sleep", "mount", "grep", "df", "touch",
                       "test", "true", "wc"):
            os.symlink("busybox", os.path.join(rootfs, "bin", applet))
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        p = subprocess.run([DOCKER, "-H", "unix://" + self.sock, "import", "-", tag],
                           stdin=tar.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        tar.wait()
        assert p.returncode == 0, p.stderr
        return tag

    def stop(self):
        if self.proc and self.proc.poll() is None:
            # containers first, so their volume unmounts reach the plugin
            ids = self.docker("ps", "-aq", check=False).stdout.split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        for mp in mounts_under(self.root):
            subprocess.run(["umount", "-l", mp], check=False)
        shutil.rmtree(self.root, ignore_errors=True)
