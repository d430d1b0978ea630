"""What a test needs of the machine, and the real reason when it is missing.

Each helper returns None when the need is met, else one line naming what is
missing (the command, the file, the privilege), so that a skip says the
truth: "missing command 'ip' (Debian package iproute2)", never a guess.
scripts/deps installs every package named here.
"""

import os
import shutil

# command -> the Debian package that brings it (scripts/deps lists them all)
PACKAGES = {
    "ip": "iproute2",
    "dockerd": "docker.io",
    "docker": "docker.io",
    "podman": "podman",
    "busybox": "busybox-static",
    "openssl": "openssl",
    "unshare": "util-linux",
    "losetup": "mount",
    "mkfs.ext4": "e2fsprogs",
    "mkfs.xfs": "xfsprogs",
}


def root_is_mount_point():
    """True when / is a mount point in this process's view: a booted system
    or a container entered with pivot_root. In a plain chroot it is not, and
    mount propagation (MS_SLAVE on /, `unshare --propagation`) fails there."""
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == "/" for line in f if len(line.split()) > 4)
    except OSError:
        return False


def missing(commands=(), files=(), root=False, real_root=False, loop=False):
    if root and os.geteuid() != 0:
        return "needs root"
    for c in commands:
        if not shutil.which(c) and not os.path.exists(c):
            pkg = PACKAGES.get(os.path.basename(c))
            return "missing command '%s'%s" % (c, " (Debian package %s)" % pkg if pkg else "")
    for f in files:
        if not os.path.exists(f):
            return "missing %s" % f
    if loop and not os.path.exists("/dev/loop-control"):
        return "missing /dev/loop-control (no loop device support)"
    if real_root and not root_is_mount_point():
        return ("/ is not a mount point here (a chroot?): mount namespaces and mount "
                "propagation need a real root, entered with pivot_root or booted")
    return None


def busybox():
    return next((p for p in ("/bin/busybox", "/usr/bin/busybox") if os.path.exists(p)), None)
