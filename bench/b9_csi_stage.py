#!/usr/bin/python3
"""B9 (issue 17): NodeStageVolume + NodePublishVolume of a new 1 GiB ext4
loop volume through the engine's CSI Node service (a real gRPC client)
against the same kernel steps from a shell (losetup, mkfs.ext4, mount,
mount --bind), side by side in one run, alternating which goes first.
Both sides start from a volume that exists and was never formatted; the
undo (unpublish, unstage / umount, losetup -d) is not timed.

Prints the medians and the ratio (ours / shell; the median of the
per-round ratios) and writes build/bench/results/b9_csi_stage.json.

  bench/b9_csi_stage.py [--rounds R] [--quick]
"""

import argparse
import importlib
import importlib.util
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in bench/
import benchlib as bl  # noqa: E402

REXRAY = bl.REXRAY
PROTO = os.path.join(bl.REPO, "src", "csi", "csi.proto")
GIB = 1 << 30

AP = argparse.ArgumentParser(description=__doc__.split("\n")[0])
AP.add_argument("--rounds", type=int, default=7)
AP.add_argument("--quick", action="store_true", help="5 rounds")
ARGS = AP.parse_args()
if ARGS.quick:
    ARGS.rounds = 5
if ARGS.rounds < 5:
    sys.exit("bench: at least 5 rounds")
CLEAN = bl.Cleanup()


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


def main():
    res = {"machine": bl.machine(), "rounds": ARGS.rounds}
    try:
        import grpc
    except ImportError:
        grpc = None
    if grpc is None or importlib.util.find_spec("grpc_tools") is None:
        res["skipped"] = "needs python3-grpcio and python3-grpc-tools"
    if os.geteuid() != 0:
        res["skipped"] = "needs root (loop devices, mounts)"
    if "skipped" in res:
        bl.save_result("b9_csi_stage", res)
        print("B9 skipped: " + res["skipped"])
        return
    bl.check_binaries(REXRAY)
    root = CLEAN.tempdir("rrb9")  # mounts, loop devices and the dir go at exit
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REXRAY", "LIBSTORAGE"))}
    env.update(REXRAY_HOME=root, LIBSTORAGE_SERVICE="loop",
               REXRAY_HOME_RUN=bl.run_tmpfs_dir(CLEAN))
    sock = os.path.join(root, "csi.sock")
    os.makedirs(os.path.join(root, "etc", "rexray"))
    with open(os.path.join(root, "etc", "rexray", "config.yml"), "w") as f:
        f.write("rexray:\n  modules:\n    b9:\n      type: csi\n      host: unix://%s\n"
                "      csi:\n        services: node\n" % sock)
    svc = subprocess.Popen([REXRAY, "service", "start", "-f"], env=env, cwd=root,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    CLEAN.procs.append(svc)
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
        bl.stop_proc(svc, timeout=30)
    res.update({"ours_s": ours, "shell_s": shell, "ours_ms": bl.median(ours) * 1e3,
                "shell_ms": bl.median(shell) * 1e3,
                "ratio_rounds": [a / b for a, b in zip(ours, shell)]})
    res["ratio"] = bl.median(res["ratio_rounds"])
    bl.save_result("b9_csi_stage", res)
    print("B9 NodeStage+NodePublish of a new 1 GiB ext4 volume, median of %d rounds:" %
          ARGS.rounds)
    print("  ours (CSI, gRPC)     %7.1f ms" % res["ours_ms"])
    print("  shell (losetup, mkfs.ext4, mount, mount --bind)  %7.1f ms" % res["shell_ms"])
    print("  ours / shell         %7.2f" % res["ratio"])


if __name__ == "__main__":
    try:
        main()
    finally:
        CLEAN.run()
