"""libStorage REST API of the embedded vfs service (spec/rexray.md section 3,
spec/libstorage-trace.md)."""

import json
import os
import re
import threading

from conftest import assert_error_body, iid_header, iid_metadata_header

VFS_SERVICE = {
    "name": "vfs",
    "driver": {
        "name": "vfs",
        "type": "object",
        "nextDevice": {"ignore": True, "prefix": "", "pattern": ""},
    },
}
ID_RE = re.compile(r"^vfs-\d{3,}$")


def test_root_lists_the_api_urls(api):
    r = api.get("/")
    assert r.status == 200, r
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    urls = r.json
    assert isinstance(urls, list) and all(isinstance(u, str) for u in urls), urls
    tails = {u.rstrip("/").rsplit("/", 1)[-1] for u in urls}
    assert {"services", "volumes", "snapshots", "tasks", "help"} <= tails, urls


def test_every_reply_names_the_server(api):
    names = set()
    for method, path in [("GET", "/"), ("GET", "/services"), ("GET", "/volumes"),
                         ("GET", "/volumes/nosuch"), ("GET", "/volumes/vfs/vfs-999"),
                         ("GET", "/snapshots"), ("GET", "/no/such/route")]:
        r = api.request(method, path)
        name = r.headers.get("Libstorage-Servername")
        assert name and name.strip(), (method, path, r.status, dict(r.headers))
        names.add(name)
    assert len(names) == 1, names  # chosen once at startup


def test_services_match_the_trace(api):
    r = api.get("/services")
    assert r.status == 200, r
    assert r.json == {"vfs": VFS_SERVICE}


def test_service_inspect(api):
    r = api.get("/services/vfs")
    assert r.status == 200, r
    assert r.json == VFS_SERVICE


def test_service_instance_from_executor_metadata(api):
    # The vfs executor sends only metadata: a JSON string, the hostname.
    r = api.get("/services/vfs?instance", iid=iid_metadata_header("host-a1"))
    assert r.status == 200, r
    info = r.json
    assert info["name"] == "vfs" and info["driver"] == VFS_SERVICE["driver"], info
    iid = info["instance"]["instanceID"]
    assert iid["id"] == "host-a1", info
    assert iid["driver"] == "vfs", info
    assert info["instance"]["name"] == "vfsInstance", info  # as in the trace
    # a different host gets its own id back
    r = api.get("/services/vfs?instance", iid=iid_metadata_header("other.example"))
    assert r.status == 200 and r.json["instance"]["instanceID"]["id"] == "other.example", r


def test_service_instance_without_instance_id_is_400(api):
    r = api.get("/services/vfs?instance")
    assert_error_body(r, 400)


def test_unknown_service_is_404(api):
    for path in ("/services/nosuch", "/volumes/nosuch", "/volumes/nosuch/vfs-000"):
        assert_error_body(api.get(path), 404)
    assert_error_body(api.post("/volumes/nosuch", {"name": "x"}), 404)
    assert api.volumes() == {}


def test_unknown_volume_is_404(api):
    api.create("present")
    body = assert_error_body(api.get("/volumes/vfs/vfs-999"), 404)
    assert "not found" in body["message"].lower(), body
    for r in (api.get("/volumes/vfs/vfs-999"),
              api.get("/volumes/vfs/absent?byName"),
              api.delete("/volumes/vfs/vfs-999"),
              api.post("/volumes/vfs/vfs-999?attach", {"nextDeviceName": "/dev/xvda"},
                       iid=iid_header("h1")),
              api.post("/volumes/vfs/vfs-999?detach", {}, iid=iid_header("h1"))):
        assert_error_body(r, 404)
    assert api.names() == ["present"]


def test_create_returns_201_and_the_volume(api):
    r = api.post("/volumes/vfs", {"name": "v1", "size": 2})
    assert r.status == 201, r
    v = r.json
    assert v["name"] == "v1" and v["size"] == 2, v
    assert v["attachmentState"] == 3, v
    assert ID_RE.match(v["id"]), v
    assert "type" in v, v
    assert not v.get("attachments"), v


def test_create_keeps_the_requested_fields(api):
    v = api.create("v2", size=3, iops=100, type="gp2", availabilityZone="zone-1")
    assert (v["size"], v["iops"], v["type"], v["availabilityZone"]) == \
        (3, 100, "gp2", "zone-1"), v
    got = api.inspect(v["id"])
    assert (got["size"], got["iops"], got["type"], got["availabilityZone"]) == \
        (3, 100, "gp2", "zone-1"), got


def test_create_opts_become_fields_as_text(api):
    """Opts are kept as the volume's fields, every value as a string, as
    libStorage's map[string]string: a string as it is, anything else as
    its compact JSON text."""
    r = api.post("/volumes/vfs", {"name": "vo", "size": 1,
                                  "opts": {"a": "x", "n": 2, "o": {"k": [1]}}})
    assert r.status == 201, r
    want = {"a": "x", "n": "2", "o": '{"k":[1]}'}
    assert r.json["fields"] == want, r.json
    assert api.inspect(r.json["id"])["fields"] == want


def test_created_volumes_are_listed_and_inspectable(api):
    a = api.create("alpha", size=1)
    b = api.create("beta", size=5)
    assert a["id"] != b["id"]

    r = api.get("/volumes")
    assert r.status == 200, r
    allv = r.json
    assert set(allv) == {"vfs"}, allv
    assert set(allv["vfs"]) == {a["id"], b["id"]}, allv
    for v in (a, b):
        got = allv["vfs"][v["id"]]
        assert got["id"] == v["id"] and got["name"] == v["name"] and got["size"] == v["size"]

    vols = api.volumes(mask=1)
    assert set(vols) == {a["id"], b["id"]}
    assert all(x["attachmentState"] == 3 for x in vols.values()), vols

    got = api.inspect(b["id"])
    assert (got["id"], got["name"], got["size"]) == (b["id"], "beta", 5), got


def test_inspect_by_name(api):
    v = api.create("MyData", size=1)
    for name in ("MyData", "mydata", "MYDATA"):  # byName is case-insensitive
        r = api.get("/volumes/vfs/%s?byName" % name)
        assert r.status == 200, (name, r)
        assert r.json["id"] == v["id"], r.json
    assert_error_body(api.get("/volumes/vfs/MyDat?byName"), 404)


def test_delete_removes_the_volume(api, home):
    keep = api.create("keep")
    gone = api.create("gone")
    r = api.delete("/volumes/vfs/%s" % gone["id"])
    assert r.status == 204, r
    assert r.body == b"", r
    assert set(api.volumes()) == {keep["id"]}
    assert_error_body(api.get("/volumes/vfs/%s" % gone["id"]), 404)
    assert_error_body(api.delete("/volumes/vfs/%s" % gone["id"]), 404)
    # its storage under <lib>/vfs went with it; the other's stayed
    vfs_paths = [p for p in home.snapshot_tree()
                 if p.startswith(os.path.relpath(os.path.join(home.lib, "vfs"), home.root))]
    assert not [p for p in vfs_paths if gone["id"] in p], vfs_paths
    assert [p for p in vfs_paths if keep["id"] in p], vfs_paths


def test_vfs_volume_lives_under_the_lib_dir(api, home):
    rel_lib = os.path.relpath(home.lib, home.root)
    rel_vfs = os.path.join(rel_lib, "vfs")
    before = home.snapshot_tree()
    api.create("ondisk")
    new = home.snapshot_tree() - before
    assert any(p.startswith(rel_vfs + os.sep) for p in new), \
        "creating a vfs volume added nothing under %s: %s" % (rel_vfs, sorted(new))
    outside = [p for p in new if not (p == rel_lib or p.startswith(rel_lib + os.sep)
                                      or rel_lib.startswith(p + os.sep))]
    assert not outside, outside


def test_attach_and_detach_cycle(api):
    v = api.create("tr1", size=2)
    vid = v["id"]

    r = api.post("/volumes/vfs/%s?attach" % vid, {"nextDeviceName": "/dev/xvda"},
                 iid=iid_header("host1"))
    assert r.status == 200, r
    body = r.json
    assert isinstance(body.get("attachToken"), str) and body["attachToken"], body
    vol = body["volume"]
    assert vol["id"] == vid and vol["name"] == "tr1" and vol["attachmentState"] == 2, vol
    assert len(vol["attachments"]) == 1, vol
    att = vol["attachments"][0]
    assert att["instanceID"]["id"] == "host1", att
    assert att["instanceID"]["driver"] == "vfs", att
    assert att["volumeID"] == vid, att
    assert att["deviceName"] == "/dev/xvda", att
    assert att["instanceID"]["service"] == "vfs", att
    assert att["status"] == "attached", att

    # state as seen by each caller
    mine = api.inspect(vid, iid=iid_header("host1"))
    assert mine["attachmentState"] == 2, mine
    assert mine["attachments"][0]["instanceID"]["id"] == "host1", mine
    other = api.inspect(vid, iid=iid_header("host2"))
    assert other["attachmentState"] == 4, other
    # the instance id comparison ignores case
    assert api.inspect(vid, iid=iid_header("HOST1"))["attachmentState"] == 2

    # without a caller instance id, an attached volume is someone else's
    anon = api.get("/volumes/vfs/%s?attachments=1" % vid)
    assert anon.status == 200 and anon.json["attachmentState"] == 4, anon

    # mask 0 strips the attachments
    bare = api.get("/volumes/vfs/%s?attachments=0" % vid, iid=iid_header("host1"))
    assert bare.status == 200, bare
    assert not bare.json.get("attachments"), bare.json

    r = api.post("/volumes/vfs/%s?detach" % vid, {}, iid=iid_header("host1"))
    assert r.status == 205, r
    if r.body.strip():  # "Volume or empty"
        assert r.json["id"] == vid and r.json["attachmentState"] == 3, r.json
        assert not r.json.get("attachments"), r.json
    after = api.inspect(vid, iid=iid_header("host1"))
    assert after["attachmentState"] == 3, after
    assert not after.get("attachments"), after
    assert api.inspect(vid, iid=iid_header("host2"))["attachmentState"] == 3


def test_attach_with_driver_only_instance_id(api):
    v = api.create("drvonly")
    r = api.post("/volumes/vfs/%s?attach" % v["id"], {"nextDeviceName": "/dev/xvdb"},
                 iid="vfs=hostx")
    assert r.status == 200, r
    assert r.json["volume"]["attachments"][0]["instanceID"]["id"] == "hostx", r.json
    assert api.inspect(v["id"], iid="vfs=hostx")["attachmentState"] == 2


def test_attachment_mask_filters(api):
    att = api.create("att")
    free = api.create("free")
    api.attach(att["id"], "host1")
    h1, h2 = iid_header("host1"), iid_header("host2")

    # 9 = requested + only attached (to anyone)
    assert set(api.volumes(mask=9, iid=h1)) == {att["id"]}
    # 17 = requested + only unattached
    assert set(api.volumes(mask=17, iid=h1)) == {free["id"]}
    # 11 = attached to me
    assert set(api.volumes(mask=11, iid=h1)) == {att["id"]}
    assert set(api.volumes(mask=11, iid=h2)) == set()
    # 1 = everything, with states computed for the caller
    vols = api.volumes(mask=1, iid=h2)
    assert vols[att["id"]]["attachmentState"] == 4 and vols[free["id"]]["attachmentState"] == 3
    # the all-services form filters too
    r = api.get("/volumes?attachments=9", iid=h1)
    assert r.status == 200 and set(r.json["vfs"]) == {att["id"]}, r


def test_attachments_mask_needing_an_instance_id_is_400(api):
    api.create("v")
    for mask in (2, 11, 15):
        assert_error_body(api.get("/volumes/vfs?attachments=%d" % mask), 400)
        assert_error_body(api.get("/volumes?attachments=%d" % mask), 400)


def test_attach_without_instance_id_is_400(api):
    v = api.create("noiid")
    r = api.post("/volumes/vfs/%s?attach" % v["id"], {"nextDeviceName": "/dev/xvda"})
    assert_error_body(r, 400)
    got = api.inspect(v["id"], iid=iid_header("host1"))
    assert got["attachmentState"] == 3 and not got.get("attachments"), got


def test_snapshot_listings_start_empty_and_detach_all_is_501(api):
    # the snapshot routes themselves: tests/system/test_snapshots.py
    assert api.get("/snapshots").json == {"vfs": {}}
    assert api.get("/snapshots/vfs").json == {}
    body = assert_error_body(api.post("/volumes/vfs?detach", {}), 501)
    assert "not implemented" in body["message"], body


def test_help_version(api):
    r = api.get("/help/version")
    assert r.status == 200, r
    assert isinstance(r.json, dict) and r.json, r.json


def test_unknown_route_is_404(api):
    r = api.get("/no/such/route")
    assert r.status == 404, r


def test_concurrent_creates(api):
    results = [None] * 20
    errors = []

    def worker(i):
        try:
            results[i] = api.post("/volumes/vfs", {"name": "conc-%02d" % i, "size": 1})
        except Exception as ex:  # noqa: BLE001 - reported below
            errors.append(repr(ex))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    statuses = [r.status for r in results]
    assert statuses == [201] * 20, [(i, r) for i, r in enumerate(results) if r.status != 201]
    ids = [r.json["id"] for r in results]
    assert len(set(ids)) == 20, ids
    vols = api.volumes()
    assert sorted(v["name"] for v in vols.values()) == ["conc-%02d" % i for i in range(20)]
    assert set(vols) == set(ids)


def test_keep_alive_connection_survives_errors(api):
    """Several requests on one connection, errors included: each reply must
    be complete and the unread parts of a rejected request must not leak
    into the next one."""
    c = api.connection()
    try:
        def call(method, path, body=None, iid=None):
            hdrs = {"Content-Type": "application/json"}
            if iid:
                hdrs["Libstorage-Instanceid"] = iid
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            return r.status, r.read()

        st, body = call("POST", "/volumes/vfs", b'{"name":"ka1","size":1}')
        assert st == 201, body
        vid = json.loads(body)["id"]
        assert call("POST", "/volumes/vfs", b'{"name":')[0] == 400
        assert call("POST", "/volumes/vfs", b'{"name":"bad/name"}')[0] == 400
        assert call("GET", "/volumes/vfs/vfs-999")[0] == 404
        assert call("POST", "/volumes/vfs/%s?attach" % vid, b'{"nextDeviceName":"/dev/xvdz"}')[0] == 400
        st, body = call("POST", "/volumes/vfs/%s?attach" % vid,
                        b'{"nextDeviceName":"/dev/xvdz"}', iid=iid_header("ka"))
        assert st == 200, body
        st, body = call("GET", "/volumes/vfs?attachments=11", iid=iid_header("ka"))
        assert st == 200 and set(json.loads(body)) == {vid}, body
        assert call("POST", "/volumes/vfs/%s?detach" % vid, b"{}", iid=iid_header("ka"))[0] == 205
        st, body = call("DELETE", "/volumes/vfs/%s" % vid)
        assert st == 204 and body == b"", body
        st, body = call("GET", "/volumes/vfs")
        assert st == 200 and json.loads(body) == {}, body
    finally:
        c.close()


def test_many_volumes(api, home):
    n = 250
    c = api.connection()
    try:
        for i in range(n):
            c.request("POST", "/volumes/vfs", body=json.dumps({"name": "many%03d" % i,
                                                               "size": i % 7 + 1}),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            assert r.status == 201, (i, r.read())
            r.read()
    finally:
        c.close()
    vols = api.volumes(mask=1)
    assert len(vols) == n
    assert sorted(v["name"] for v in vols.values()) == ["many%03d" % i for i in range(n)]
    assert all(v["size"] == int(v["name"][4:]) % 7 + 1 for v in vols.values())
    assert len(home.volumes_cli()) == n
    table = home.cli_ok("volume", "ls").stdout.splitlines()
    assert len([ln for ln in table[1:] if ln.strip()]) == n


def test_concurrent_mixed_operations(api):
    """Threads each run create/attach/inspect/detach/delete on their own
    volume while others list: no 5xx, everything as expected, nothing left."""
    problems = []

    def life(i):
        host = iid_header("host-%d" % i)
        try:
            r = api.post("/volumes/vfs", {"name": "mix-%d" % i, "size": 1})
            if r.status != 201:
                problems.append(("create", i, r))
                return
            vid = r.json["id"]
            for step, want, resp in (
                ("attach", 200, lambda: api.post("/volumes/vfs/%s?attach" % vid,
                                                 {"nextDeviceName": "/dev/xvdb"}, iid=host)),
                ("inspect", 200, lambda: api.get("/volumes/vfs/%s?attachments=1" % vid,
                                                 iid=host)),
                ("detach", 205, lambda: api.post("/volumes/vfs/%s?detach" % vid, {}, iid=host)),
                ("delete", 204, lambda: api.delete("/volumes/vfs/%s" % vid)),
            ):
                r = resp()
                if r.status != want:
                    problems.append((step, i, r))
                    return
                if step == "inspect" and r.json.get("attachmentState") != 2:
                    problems.append((step, i, r))
        except Exception as ex:  # noqa: BLE001 - reported below
            problems.append(("exception", i, repr(ex)))

    def lister():
        try:
            for _ in range(10):
                r = api.get("/volumes?attachments=1")
                if r.status != 200:
                    problems.append(("list", r))
        except Exception as ex:  # noqa: BLE001
            problems.append(("exception", "list", repr(ex)))

    threads = [threading.Thread(target=life, args=(i,)) for i in range(12)]
    threads += [threading.Thread(target=lister) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not problems, problems
    assert api.volumes() == {}


def test_duplicate_name_is_a_conflict_and_changes_nothing(api):
    first = api.create("dup", size=2)
    for name in ("dup", "DUP", "Dup"):
        r = api.post("/volumes/vfs", {"name": name, "size": 5})
        assert_error_body(r, 409)
        assert "already exists" in r.json["message"], r.json
    vols = api.volumes()
    assert list(vols) == [first["id"]], vols
    assert vols[first["id"]]["size"] == 2, vols


def test_attach_held_elsewhere_needs_force_which_vfs_refuses(api):
    vid = api.create("held")["id"]
    api.attach(vid, "hostA")
    r = api.post("/volumes/vfs/%s?attach" % vid, {}, iid=iid_header("hostB"))
    assert_error_body(r, 409)
    assert "hostA" in r.json["message"], r.json
    # still hostA's
    v = api.inspect(vid, iid=iid_header("hostA"))
    assert v["attachmentState"] == 2, v
    # force (what mount.preempt sends) cannot take a vfs volume: a directory
    # has no fence, so hostA's open files would go on writing (issue 23;
    # a loop volume moves: test_multihost.py)
    r = api.post("/volumes/vfs/%s?attach" % vid, {"force": True}, iid=iid_header("hostB"))
    assert_error_body(r, 409)
    assert "cannot be fenced" in r.json["message"] and "hostA" in r.json["message"], r.json
    assert api.inspect(vid, iid=iid_header("hostA"))["attachmentState"] == 2
    assert api.inspect(vid, iid=iid_header("hostB"))["attachmentState"] == 4


def test_remove_attached_needs_force(api):
    vid = api.create("busy")["id"]
    api.attach(vid, "hostA")
    r = api.delete("/volumes/vfs/%s" % vid)
    assert_error_body(r, 409)
    assert vid in api.volumes(), "a refused remove must keep the volume"
    r = api.delete("/volumes/vfs/%s?force" % vid)
    assert r.status == 204, r
    assert vid not in api.volumes()
