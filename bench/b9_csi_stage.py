#!/usr/bin/python3
"""B9 (issue 17): NodeStageVolume + NodePublishVolume of a new 1 GiB ext4
loop volume through the engine's CSI Node service (a real gRPC client)
against the same kernel steps from a shell (losetup, mkfs.ext4, mount,
mount --bind), side by side in one run, alternating which goes first.
Both sides start from a volume that exists and was never formatted; the
undo (unpublish, unstage / umount, losetup -d) is not timed.

Prints the medians and the ratio (ours / shell) and writes
build/bench/results/b9_csi_stage.json.

  bench/b9_csi_stage.py [--rounds R]
"""

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REXRAY = os.path.join(REPO, "build", "rexray")
PROTO = os.path.join(REPO, "src", "csi", "csi.proto")
GIB = 1 << 30

AP = argparse.ArgumentParser(description=__doc__.split("\n")[0])
AP.add_argument("--rounds", type=int, default=7)
ARGS = AP.parse_args()


def stubs(out):
    import grpc_tools
    os.makedirs(out, exist_ok=True)
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + os.path.dirname(PROTO),
                    "-I" + wkt, "--python_out=" + out, "--grpc_python_out=" + out,
                    "csi.proto"], check=True, capture_output=True)
    sys.path.insert(0, out)
    return importlib.import_module("csi_pb2"), importlib.import_module("csi_pb2_grpc")


def run(*args, env=None):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, env=env)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    import grpc
    root = tempfile.mkdtemp(prefix="rrb9")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REXRAY", "LIBSTORAGE"))}
    env.update(REXRAY_HOME=root, LIBSTORAGE_SERVICE="loop")
    sock = os.path.join(root, "csi.sock")
    os.makedirs(os.path.join(root, "etc", "rexray"))
    with open(os.path.join(root, "etc", "rexray", "config.yml"), "w") as f:
        f.write("rexray:\n  modules:\n    b9:\n      type: csi\n      host: unix://%s\n"
                "      csi:\n        services: node\n" % sock)
    svc = subprocess.Popen([REXRAY, "service", "start", "-f"], env=env, cwd=root,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ours, shell = [], []
    try:
        p, g = stubs(os.path.join(root, "pb"))
        ch = grpc.insecure_channel("unix://" + sock)
        grpc.channel_ready_future(ch).result(timeout=30)
        node = g.NodeStub(ch)
        cap = p.VolumeCapability(mount=p.VolumeCapability.MountVolume(fs_type="ext4"),
                                 access_mode=p.VolumeCapability.AccessMode(mode=1))
        co = os.path.join(root, "co")
        os.makedirs(co)

        def csi_round(i):
            name = "b9v%d" % i
            run(REXRAY, "volume", "create", "--size", "1", name, env=env)
            staging, target = os.path.join(co, name + "-s"), os.path.join(co, name + "-t")
            os.makedirs(staging)
            t0 = time.monotonic()
            node.NodeStageVolume(p.NodeStageVolumeRequest(
                volume_id=name, staging_target_path=staging, volume_capability=cap),
                timeout=120)
            node.NodePublishVolume(p.NodePublishVolumeRequest(
                volume_id=name, staging_target_path=staging, target_path=target,
                volume_capability=cap), timeout=120)
            dt = time.monotonic() - t0
            node.NodeUnpublishVolume(p.NodeUnpublishVolumeRequest(volume_id=name,
                                                                  target_path=target))
            node.NodeUnstageVolume(p.NodeUnstageVolumeRequest(volume_id=name,
                                                              staging_target_path=staging))
            run(REXRAY, "volume", "rm", name, env=env)
            return dt

        def shell_round(i):
            img = os.path.join(root, "sh%d.img" % i)
            with open(img, "wb") as f:
                f.truncate(GIB)
            mp, tgt = os.path.join(root, "sh%d-m" % i), os.path.join(root, "sh%d-t" % i)
            os.makedirs(mp)
            os.makedirs(tgt)
            t0 = time.monotonic()
            dev = run("losetup", "-f", "--show", img).stdout.strip()
            run("mkfs.ext4", "-q", "-F", "-m", "0", "-E",
                "lazy_itable_init=1,lazy_journal_init=1", dev)
            run("mount", dev, mp)
            run("mount", "--bind", mp, tgt)
            dt = time.monotonic() - t0
            run("umount", tgt)
            run("umount", mp)
            run("losetup", "-d", dev)
            os.unlink(img)
            return dt

        for i in range(ARGS.rounds):
            order = (csi_round, shell_round) if i % 2 == 0 else (shell_round, csi_round)
            for fn in order:
                (ours if fn is csi_round else shell).append(fn(i))
        ch.close()
    finally:
        svc.terminate()
        svc.wait(30)
        shutil.rmtree(root, ignore_errors=True)
    res = {"rounds": ARGS.rounds, "ours_ms": median(ours) * 1e3, "shell_ms": median(shell) * 1e3}
    res["ratio"] = res["ours_ms"] / res["shell_ms"]
    out = os.path.join(REPO, "build", "bench", "results")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "b9_csi_stage.json"), "w") as f:
        json.dump(res, f, indent=2)
    print("B9 NodeStage+NodePublish of a new 1 GiB ext4 volume, median of %d rounds:" %
          ARGS.rounds)
    print("  ours (CSI, gRPC)     %7.1f ms" % res["ours_ms"])
    print("  shell (losetup, mkfs.ext4, mount, mount --bind)  %7.1f ms" % res["shell_ms"])
    print("  ours / shell         %7.2f" % res["ratio"])


if __name__ == "__main__":
    main()
