"""Allocation failure in the servers' request paths (issue 24). A running
service whose Nth allocation inside a request fails (REXRAY_FAULT=alloc:N:
ENOMEM; src/util/sys.h counts allocations only while a request is served:
the handlers of the libStorage REST server and of the Docker plugin, their
codecs and every JSON value) answers that request with a clear error (the
libStorage error JSON with status 500; the plugin's {"Err": "..."}) or
succeeds when nothing needed what failed; keeps serving; keeps its volume
records, directories and mounts in agreement; and then serves the same
request. A reply that cannot be made once the work is done is a reply
lost as on a network: the work stands, and the retry finds it done (a
create answers 409, a delete 404).

Every N from 1 until N passes the sequence's last allocation (about a
hundred per sequence, a tenth of a second each: no sampling)."""

import glob
import os
import signal

from conftest import mounts_under, plugin_call


def rest_steps(api):
    vid = {}

    def create():
        r = api.post("/volumes/vfs", {"name": "av", "size": 1})
        if r.status < 300:
            vid["id"] = r.json["id"]
        elif r.status == 409:  # the retry of a create whose reply was lost
            vid["id"] = next(iter(api.get("/volumes/vfs").json))
            r.status = 200
        return r

    def delete():
        r = api.delete("/volumes/vfs/" + vid["id"])
        if r.status == 404:  # the retry of a delete whose reply was lost
            r.status = 204
        return r

    def ok(r):
        if r.status < 300:
            return True
        assert r.status == 500, r
        assert r.json.get("status") == 500 and r.json.get("message"), r
        return False

    return ok, [("create", create),
                ("list", lambda: api.get("/volumes")),
                ("inspect", lambda: api.get("/volumes/vfs/" + vid["id"])),
                ("delete", delete)]


def docker_steps(home):
    sock = os.path.join(home.root, "run", "docker", "plugins", "rexray.sock")

    def call(method, body):
        return lambda: plugin_call(sock, method, body)

    def ok(reply):
        status, body = reply
        if status == 200 and not body.get("Err"):
            return True
        assert body.get("Err"), reply
        return False

    return ok, [("Create", call("Create", {"Name": "dv", "Opts": {"size": "1"}})),
                ("Mount", call("Mount", {"Name": "dv", "ID": "c1"})),
                ("Path", call("Path", {"Name": "dv"})),
                ("Get", call("Get", {"Name": "dv"})),
                ("List", call("List", {})),
                ("Unmount", call("Unmount", {"Name": "dv", "ID": "c1"})),
                ("Remove", call("Remove", {"Name": "dv"}))]


def dirs(home):
    return sorted(p for p in glob.glob(os.path.join(home.lib, "vfs", "vol", "*"))
                  if not p.endswith(".gone"))


def consistent(home, api, mounted, where=None):
    """Records and directories agree; a mount exists exactly when the
    sequence is between a done Mount and a done Unmount."""
    r = api.get("/volumes/vfs")
    assert r.status == 200, r
    assert len(r.json) == len(dirs(home)), (r.json, dirs(home))
    if mounted is not None:
        assert bool(mounts_under(home.root)) == mounted, (where, mounted, mounts_under(home.root))


def fired(log):
    return os.path.exists(log) and open(log).read().strip() != ""


def one_round(home, n, which):
    log = os.path.join(home.root, "fault-%s-%d.log" % (which, n))
    svc = home.start_service(env=home.env(REXRAY_FAULT="alloc:%d:ENOMEM" % n,
                                          REXRAY_FAULT_LOG=log))
    ok, steps = rest_steps(svc.api) if which == "rest" else docker_steps(home)
    errors, mounted = 0, False
    for name, step in steps:
        reply = step()
        if not ok(reply):
            assert fired(log), (n, name, reply, svc.logs())
            errors += 1
            # an unmount whose reply was lost may be done or not
            consistent(home, svc.api, None if name == "Unmount" else mounted, (n, name))
            reply = step()
            assert ok(reply) or (name == "Remove" and "not found" in reply[1]["Err"]), \
                (n, name, "the retry", reply)
        mounted = name == "Mount" or (mounted and name != "Unmount")
        if fired(log):
            consistent(home, svc.api, mounted, (n, name, open(log).read(), svc.logs()))
    assert dirs(home) == [] and mounts_under(home.root) == [], n
    r = svc.api.get("/volumes/vfs")  # the last allocations may be this one's
    if r.status == 500 and fired(log):
        r = svc.api.get("/volumes/vfs")
    assert r.status == 200 and r.json == {}, (n, r)
    assert svc.stop(signal.SIGTERM) == 0, svc.logs()
    return fired(log), errors


def run_all(home, which):
    n, errors = 1, 0
    while True:
        hit, err = one_round(home, n, which)
        if not hit:
            break
        errors += err
        n += 1
    print("\nalloc %s: %d failure points run, %d answered with an error" % (which, n - 1, errors))
    return n - 1, errors


def test_allocation_failures_in_rest_requests(home):
    points, errors = run_all(home, "rest")
    assert points > 30 and errors > 0


def test_allocation_failures_in_docker_plugin_requests(home):
    points, errors = run_all(home, "docker")
    assert points > 30 and errors > 0
