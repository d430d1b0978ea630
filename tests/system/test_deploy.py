"""The deployment files of the CSI plugin (issue 17): deploy/kubernetes/,
deploy/nomad/ and deploy/Dockerfile, read as files; nothing is applied to a
cluster here.

Every Kubernetes manifest is parsed with PyYAML (Debian's python3-yaml),
including the engine configurations inside the ConfigMap. The Nomad files
are parsed by the small HCL parser below, which knows exactly the subset
the files use (blocks with string labels, `key = value` with strings,
numbers, booleans and lists, heredocs, comments) and refuses anything else,
so a file it cannot read fails the test instead of being skipped; the
config.yml inside each job's template is YAML again.

Each check is a function of a deploy directory; test_check_catches applies
one breaking edit per check to a copy of deploy/ and expects the check to
fail, so that no check here passes whatever the files say.
"""

import os
import re
import shutil

import pytest
import yaml

from conftest import REPO

DEPLOY = os.path.join(REPO, "deploy")
DOC = os.path.join(REPO, "docs", "csi.md")

DRIVER = "csi.rexray.io"
PLUGIN_ID = "rexray"                      # the Nomad plugin id
ENGINE_IMAGE = "rexray-c:0.1.0"           # the placeholder image name
CONTROLLER_SIDECARS = ("csi-provisioner", "csi-attacher", "csi-snapshotter", "csi-resizer")

# The least each sidecar must be allowed (apiGroup, resource, verb): what
# its main loop reads, writes and watches (from each sidecar's upstream
# deploy/kubernetes/rbac*.yaml). node-driver-registrar talks only to the
# kubelet and needs nothing. With --leader-election a sidecar also needs
# leases in its own namespace (checked separately).
_WATCH = ("get", "list", "watch")
NEEDS = {
    "csi-provisioner": [("", "persistentvolumes", v) for v in _WATCH + ("create", "delete")]
    + [("", "persistentvolumeclaims", v) for v in _WATCH + ("update",)]
    + [("storage.k8s.io", "storageclasses", v) for v in _WATCH]
    + [("", "events", v) for v in ("create", "patch")]
    + [("snapshot.storage.k8s.io", "volumesnapshots", v) for v in ("get", "list")]
    + [("snapshot.storage.k8s.io", "volumesnapshotcontents", v) for v in ("get", "list")]
    + [("storage.k8s.io", "csinodes", v) for v in _WATCH]
    + [("", "nodes", v) for v in _WATCH],
    "csi-attacher": [("", "persistentvolumes", v) for v in _WATCH + ("patch",)]
    + [("storage.k8s.io", "csinodes", v) for v in _WATCH]
    + [("storage.k8s.io", "volumeattachments", v) for v in _WATCH + ("patch",)]
    + [("storage.k8s.io", "volumeattachments/status", "patch")],
    "csi-snapshotter": [("snapshot.storage.k8s.io", "volumesnapshotclasses", v) for v in _WATCH]
    + [("snapshot.storage.k8s.io", "volumesnapshotcontents", v)
       for v in _WATCH + ("create", "update", "patch")]
    + [("snapshot.storage.k8s.io", "volumesnapshotcontents/status", v) for v in ("update", "patch")]
    + [("", "events", v) for v in ("create", "patch")],
    "csi-resizer": [("", "persistentvolumes", v) for v in _WATCH + ("patch",)]
    + [("", "persistentvolumeclaims", v) for v in _WATCH]
    + [("", "persistentvolumeclaims/status", "patch")]
    + [("", "events", v) for v in ("create", "patch")],
    "node-driver-registrar": [],
}
LEASES = [("coordination.k8s.io", "leases", v) for v in ("get", "list", "watch", "create", "update")]


# --------------------------------------------------------------------------
# reading the files


def read(path):
    with open(path) as f:
        return f.read()


def k8s_files(d, sub=""):
    base = os.path.join(d, "kubernetes", sub)
    return sorted(n for n in os.listdir(base) if n.endswith((".yaml", ".yml")))


def k8s_docs(d):
    """{file name: [documents]} of deploy/kubernetes/ and its examples/."""
    out = {}
    for sub in ("", "examples"):
        for n in k8s_files(d, sub):
            path = os.path.join(d, "kubernetes", sub, n)
            docs = [x for x in yaml.safe_load_all(read(path)) if x is not None]
            assert docs, "%s holds no document" % path
            out[os.path.join(sub, n) if sub else n] = docs
    return out


def objects(d):
    """Every Kubernetes object except the kustomization, checked for the
    fields every object has."""
    out = []
    for name, docs in k8s_docs(d).items():
        if name == "kustomization.yaml":
            continue
        for o in docs:
            assert isinstance(o, dict), "%s: a document that is not an object" % name
            for key in ("apiVersion", "kind", "metadata"):
                assert key in o, "%s: %s without %s" % (name, o.get("kind"), key)
            assert o["metadata"].get("name"), "%s: %s without a name" % (name, o["kind"])
            out.append(o)
    return out


def one(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, "want one %s %s, found %d" % (kind, name or "", len(found))
    return found[0]


class HclError(Exception):
    pass


_TOKEN = re.compile(r"""
    (?P<ws>[ \t\r\n]+)
  | (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<heredoc><<-?([A-Za-z_][A-Za-z0-9_]*)[ \t]*\n)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<number>-?[0-9]+(?:\.[0-9]+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<punct>[{}\[\]=,])
""", re.S | re.X)

_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


def _unquote(s):
    out, i = [], 1
    while i < len(s) - 1:
        c = s[i]
        if c == "\\":
            nxt = s[i + 1]
            if nxt not in _ESCAPES:
                raise HclError("unknown escape \\%s" % nxt)
            out.append(_ESCAPES[nxt])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def hcl_tokens(text):
    pos, toks = 0, []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            line = text.count("\n", 0, pos) + 1
            raise HclError("line %d: cannot read %r" % (line, text[pos:pos + 30]))
        kind = m.lastgroup
        pos = m.end()
        if kind in ("ws", "comment"):
            continue
        if kind == "heredoc":
            marker = re.match(r"<<(-?)([A-Za-z_][A-Za-z0-9_]*)", m.group(kind))
            indent, tag = marker.group(1) == "-", marker.group(2)
            end = re.compile(r"^[ \t]*%s[ \t]*$" % tag if indent else r"^%s$" % tag, re.M)
            e = end.search(text, pos)
            if not e:
                raise HclError("heredoc %s not closed" % tag)
            body = text[pos:e.start()]
            if indent:
                lines = body.split("\n")
                width = min((len(x) - len(x.lstrip()) for x in lines if x.strip()), default=0)
                body = "\n".join(x[width:] for x in lines)
            toks.append(("string", body))
            pos = e.end()
        elif kind == "string":
            toks.append(("string", _unquote(m.group(kind))))
        elif kind == "number":
            toks.append(("number", float(m.group(kind)) if "." in m.group(kind) else int(m.group(kind))))
        elif kind == "ident" and m.group(kind) in ("true", "false"):
            toks.append(("bool", m.group(kind) == "true"))
        else:
            toks.append((kind, m.group(kind)))
    return toks


def hcl_parse(text):
    """-> body: {"attrs": {name: value}, "blocks": [(type, [labels], body)]}."""
    toks = hcl_tokens(text)
    pos = [0]

    def peek():
        return toks[pos[0]] if pos[0] < len(toks) else ("eof", None)

    def take(kind=None, value=None):
        t = peek()
        if (kind and t[0] != kind) or (value is not None and t[1] != value):
            raise HclError("want %s %s, got %r" % (kind, value or "", t))
        pos[0] += 1
        return t

    def value():
        t = peek()
        if t[0] in ("string", "number", "bool"):
            return take()[1]
        if t == ("punct", "["):
            take()
            items = []
            while peek() != ("punct", "]"):
                items.append(value())
                if peek() == ("punct", ","):
                    take()
                elif peek() != ("punct", "]"):
                    raise HclError("want , or ] in a list, got %r" % (peek(),))
            take()
            return items
        raise HclError("unsupported value %r" % (t,))

    def body(closing):
        b = {"attrs": {}, "blocks": []}
        while peek() != closing:
            name = take("ident")[1]
            if peek() == ("punct", "="):
                take()
                if name in b["attrs"]:
                    raise HclError("%s set twice" % name)
                b["attrs"][name] = value()
                continue
            labels = []
            while peek()[0] == "string":
                labels.append(take()[1])
            take("punct", "{")
            b["blocks"].append((name, labels, body(("punct", "}"))))
            take("punct", "}")
        return b

    return body(("eof", None))


def blocks(b, kind):
    return [(labels, body) for t, labels, body in b["blocks"] if t == kind]


def block(b, kind, label=None):
    found = [body for labels, body in blocks(b, kind) if label is None or labels == [label]]
    assert len(found) == 1, "want one %s block %s, found %d" % (kind, label or "", len(found))
    return found[0]


def nomad_job(d, name):
    b = hcl_parse(read(os.path.join(d, "nomad", name)))
    (labels, job), = blocks(b, "job")
    return labels[0], job


def nomad_plugin_task(job):
    """(group, task) of the one task with a csi_plugin block."""
    found = [(g, t) for _, g in blocks(job, "group") for _, t in blocks(g, "task")
             if blocks(t, "csi_plugin")]
    assert len(found) == 1, "want one task with csi_plugin, found %d" % len(found)
    return found[0]


def nomad_config(task):
    """The engine's config.yml, from the template rendered into local/."""
    tpl = [t for _, t in blocks(task, "template") if t["attrs"].get("destination") == "local/config.yml"]
    assert len(tpl) == 1, "want one template rendering local/config.yml"
    env = block(task, "env")["attrs"]
    assert env.get("REXRAY_HOME_ETC") == "/local", "the engine must read its config from /local"
    return yaml.safe_load(tpl[0]["attrs"]["data"])


# --------------------------------------------------------------------------
# the Kubernetes pods


def configmap_config(objs, pod_spec, container):
    """The engine's /etc/rexray/config.yml, followed through the volume
    mounted at /etc/rexray to the ConfigMap key behind it."""
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    assert "/etc/rexray" in mounts, "%s: no /etc/rexray mount" % container["name"]
    vol = volume(pod_spec, mounts["/etc/rexray"])
    assert "configMap" in vol, "/etc/rexray is not a ConfigMap"
    cm = one(objs, "ConfigMap", vol["configMap"]["name"])
    keys = [i["key"] for i in vol["configMap"].get("items", []) if i["path"] == "config.yml"]
    assert len(keys) == 1, "no item of the ConfigMap becomes config.yml"
    return yaml.safe_load(cm["data"][keys[0]])


def volume(pod_spec, name):
    found = [v for v in pod_spec.get("volumes", []) if v["name"] == name]
    assert len(found) == 1, "want one volume %s, found %d" % (name, len(found))
    return found[0]


def containers(pod_spec):
    return {c["name"]: c for c in pod_spec["containers"]}


def engine(pod_spec):
    found = [c for c in pod_spec["containers"] if c["image"] == ENGINE_IMAGE]
    assert len(found) == 1, "want one engine container (image %s)" % ENGINE_IMAGE
    assert found[0].get("args") == ["service", "start", "-f"], "the engine runs `service start -f`"
    return found[0]


def arg(container, flag):
    vals = [a.split("=", 1)[1] for a in container.get("args", []) if a.startswith(flag + "=")]
    assert len(vals) == 1, "%s: want one %s=, found %d" % (container["name"], flag, len(vals))
    return vals[0]


def csi_module(cfg):
    mods = [m for m in cfg["rexray"]["modules"].values() if m.get("type") == "csi"]
    assert len(mods) == 1, "want one module of type csi, found %d" % len(mods)
    return mods[0]


def unix_path(address):
    assert address.startswith("unix:///"), "not a unix:// address: %r" % address
    return address[len("unix://"):]


def mount_of(container, path):
    """(volume name, mount) of the mount holding path in a container."""
    best = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best["mountPath"].rstrip("/")):
                best = m
    assert best is not None, "%s: nothing mounted at %s" % (container["name"], path)
    return best["name"], best


def pod_spec_of(objs, kind, name):
    o = one(objs, kind, name)
    return o["metadata"].get("namespace"), o["spec"]["template"]["spec"], o


def sidecar_name(container):
    """The sidecar a container runs, from its image's base name."""
    image = container["image"]
    assert image.startswith("registry.k8s.io/sig-storage/"), "%s: not an upstream sidecar image" % image
    repo, _, tag = image.rpartition("/")[2].partition(":")
    assert re.fullmatch(r"v\d+\.\d+\.\d+", tag), "%s: a pinned vX.Y.Z tag, not %r" % (image, tag)
    return repo


# --------------------------------------------------------------------------
# checks (each a function of a deploy directory)


def check_parses(d):
    objs = objects(d)
    kinds = {o["kind"] for o in objs}
    for k in ("Namespace", "CSIDriver", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
              "ConfigMap", "Deployment", "DaemonSet", "StorageClass", "VolumeSnapshotClass",
              "PersistentVolumeClaim", "Pod"):
        assert k in kinds, "no %s in deploy/kubernetes" % k
    for n in ("controller.nomad", "node.nomad", "volume.hcl"):
        hcl_parse(read(os.path.join(d, "nomad", n)))
    for name in ("controller.nomad", "node.nomad"):
        _, job = nomad_job(d, name)
        nomad_config(nomad_plugin_task(job)[1])
    dockerfile = read(os.path.join(d, "Dockerfile"))
    assert re.search(r"^FROM debian:bookworm-slim$", dockerfile, re.M)
    assert re.search(r"^COPY build/deb/rexray-c_\S*\.deb ", dockerfile, re.M), "the image comes from the .deb"
    assert re.search(r"apt-get install .*/tmp/rexray-c_\S*\.deb", dockerfile)


def check_kustomization(d):
    (k,) = k8s_docs(d)["kustomization.yaml"]
    listed = k["resources"]
    assert len(listed) == len(set(listed)), "a file listed twice"
    want = set(k8s_files(d)) - {"kustomization.yaml"}
    assert set(listed) == want, "kustomization.yaml lists %s; the files are %s" % (sorted(listed), sorted(want))
    ns = one(objects(d), "Namespace")["metadata"]["name"]
    assert k.get("namespace") == ns


def check_driver_name(d):
    objs = objects(d)
    assert one(objs, "CSIDriver")["metadata"]["name"] == DRIVER
    assert one(objs, "StorageClass")["provisioner"] == DRIVER
    assert one(objs, "VolumeSnapshotClass")["driver"] == DRIVER
    for kind, name in (("Deployment", "rexray-csi-controller"), ("DaemonSet", "rexray-csi-node")):
        _, spec, _ = pod_spec_of(objs, kind, name)
        cfg = configmap_config(objs, spec, engine(spec))
        assert csi_module(cfg)["csi"]["driverName"] == DRIVER, "%s: the engine's driverName" % name
    _, spec, _ = pod_spec_of(objs, "DaemonSet", "rexray-csi-node")
    reg = arg(containers(spec)["node-driver-registrar"], "--kubelet-registration-path")
    assert reg == "/var/lib/kubelet/plugins/%s/csi.sock" % DRIVER, reg
    for name in ("controller.nomad", "node.nomad"):
        _, job = nomad_job(d, name)
        task = nomad_plugin_task(job)[1]
        assert block(task, "csi_plugin")["attrs"]["id"] == PLUGIN_ID, name
        assert csi_module(nomad_config(task))["csi"]["driverName"] == DRIVER, name
    vol = hcl_parse(read(os.path.join(d, "nomad", "volume.hcl")))
    assert vol["attrs"]["plugin_id"] == PLUGIN_ID


def check_csidriver_and_classes(d):
    objs = objects(d)
    spec = one(objs, "CSIDriver")["spec"]
    assert spec == {"attachRequired": True, "podInfoOnMount": False,
                    "volumeLifecycleModes": ["Persistent"], "fsGroupPolicy": "File"}, spec
    sc = one(objs, "StorageClass")
    assert sc["parameters"] == {"csi.storage.k8s.io/fstype": "ext4"}, sc["parameters"]
    assert sc["allowVolumeExpansion"] is True
    assert sc["reclaimPolicy"] == "Delete"
    assert sc["volumeBindingMode"] == "WaitForFirstConsumer"
    assert one(objs, "VolumeSnapshotClass")["deletionPolicy"] == "Delete"
    pvc = [o for o in objs if o["kind"] == "PersistentVolumeClaim" and "dataSource" not in o["spec"]]
    assert pvc and all(p["spec"]["storageClassName"] == sc["metadata"]["name"] for p in pvc)
    snap = one(objs, "VolumeSnapshot")
    assert snap["spec"]["volumeSnapshotClassName"] == one(objs, "VolumeSnapshotClass")["metadata"]["name"]
    pod = one(objs, "Pod")
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"]}
    assert claims <= {p["metadata"]["name"] for p in pvc}, "the example pod uses the example claim"


def check_controller_socket(d):
    objs = objects(d)
    _, spec, _ = pod_spec_of(objs, "Deployment", "rexray-csi-controller")
    eng = engine(spec)
    mod = csi_module(configmap_config(objs, spec, eng))
    assert mod["csi"]["services"] == "controller"
    sock = unix_path(mod["host"])
    assert "CSI_ENDPOINT" not in {e["name"] for e in eng.get("env", [])}, \
        "one address: the config's host (an engine CSI_ENDPOINT could differ)"
    vol, _ = mount_of(eng, sock)
    assert "emptyDir" in volume(spec, vol), "the socket directory is the pod's own"
    seen = set()
    for c in spec["containers"]:
        if c is eng:
            continue
        name = sidecar_name(c)
        seen.add(name)
        addr = arg(c, "--csi-address")
        assert addr in (sock, "unix://" + sock), "%s dials %s, the engine listens on %s" % (name, addr, sock)
        v, m = mount_of(c, sock)
        assert v == vol and m["mountPath"] == mount_of(eng, sock)[1]["mountPath"], \
            "%s sees the socket directory elsewhere" % name
    assert seen == set(CONTROLLER_SIDECARS), seen


def check_node_socket(d):
    objs = objects(d)
    _, spec, _ = pod_spec_of(objs, "DaemonSet", "rexray-csi-node")
    eng = engine(spec)
    mod = csi_module(configmap_config(objs, spec, eng))
    assert mod["csi"]["services"] == "node"
    sock = unix_path(mod["host"])
    vol, m = mount_of(eng, sock)
    host_dir = volume(spec, vol)["hostPath"]["path"]
    on_host = host_dir.rstrip("/") + sock[len(m["mountPath"].rstrip("/")):]
    reg = containers(spec)["node-driver-registrar"]
    assert sidecar_name(reg) == "csi-node-driver-registrar"
    assert arg(reg, "--csi-address") in (sock, "unix://" + sock)
    rv, rm = mount_of(reg, sock)
    assert rv == vol and rm["mountPath"] == m["mountPath"], "the registrar sees another socket directory"
    assert arg(reg, "--kubelet-registration-path") == on_host, \
        "the kubelet would dial %s; the engine's socket is %s on the host" % (
            arg(reg, "--kubelet-registration-path"), on_host)
    rv, _ = mount_of(reg, "/registration/x")
    assert volume(spec, rv)["hostPath"]["path"] == "/var/lib/kubelet/plugins_registry"
    assert set(containers(spec)) == {eng["name"], "node-driver-registrar"}


def check_node_privileged(d):
    objs = objects(d)
    _, spec, _ = pod_spec_of(objs, "DaemonSet", "rexray-csi-node")
    eng = engine(spec)
    assert eng.get("securityContext", {}).get("privileged") is True, "the node engine must be privileged"
    by_host = {}
    for m in eng["volumeMounts"]:
        v = volume(spec, m["name"])
        if "hostPath" in v:
            by_host[v["hostPath"]["path"]] = m
    for host, want, prop in (("/var/lib/kubelet", "/var/lib/kubelet", "Bidirectional"),
                             ("/dev", "/dev", None),
                             ("/var/lib/rexray", "/var/lib/rexray", "Bidirectional"),
                             ("/var/run/rexray", "/var/run/rexray", None)):
        assert host in by_host, "the node engine does not mount the host's %s" % host
        assert by_host[host]["mountPath"] == want, host
        if prop:
            assert by_host[host].get("mountPropagation") == prop, "%s: propagation %s" % (host, prop)
    _, cspec, _ = pod_spec_of(objs, "Deployment", "rexray-csi-controller")
    for c in cspec["containers"]:
        assert not c.get("securityContext", {}).get("privileged"), "%s: the controller mounts nothing" % c["name"]
        for m in c.get("volumeMounts", []):
            assert m.get("mountPropagation") != "Bidirectional", c["name"]


def check_service_accounts(d):
    objs = objects(d)
    ns = one(objs, "Namespace")["metadata"]["name"]
    rbac = [o for o in yaml.safe_load_all(read(os.path.join(d, "kubernetes", "rbac.yaml"))) if o]
    sas = {(o["metadata"].get("namespace"), o["metadata"]["name"]) for o in rbac if o["kind"] == "ServiceAccount"}
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in rbac
             if o["kind"] in ("Role", "ClusterRole")}
    for kind in ("Deployment", "DaemonSet"):
        for o in (x for x in objs if x["kind"] == kind):
            sa = o["spec"]["template"]["spec"].get("serviceAccountName")
            assert sa, "%s uses the namespace's default ServiceAccount" % o["metadata"]["name"]
            assert (o["metadata"]["namespace"], sa) in sas, "%s: no ServiceAccount %s in rbac.yaml" % (
                o["metadata"]["name"], sa)
    for o in objs:
        if o["kind"] in ("Namespace", "CSIDriver", "StorageClass", "VolumeSnapshotClass",
                         "ClusterRole", "ClusterRoleBinding"):
            continue
        if o["kind"] in ("PersistentVolumeClaim", "Pod", "VolumeSnapshot"):   # the examples
            continue
        assert o["metadata"].get("namespace") == ns, "%s %s outside %s" % (o["kind"], o["metadata"]["name"], ns)
    for o in rbac:
        if o["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        for s in o["subjects"]:
            assert s["kind"] == "ServiceAccount"
            assert (s.get("namespace"), s["name"]) in sas, "%s binds a missing %s" % (o["metadata"]["name"], s)
        ref = o["roleRef"]
        rns = o["metadata"].get("namespace") if ref["kind"] == "Role" else None
        assert (ref["kind"], rns, ref["name"]) in roles, "%s refers to a missing %s" % (o["metadata"]["name"], ref)


def granted(rbac, sa_ns, sa, namespace):
    """(apiGroup, resource, verb) the ServiceAccount may use in namespace
    (cluster-wide ones included)."""
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
             for o in rbac if o["kind"] in ("Role", "ClusterRole")}
    out = set()
    for b in rbac:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s["kind"] == "ServiceAccount" and s["name"] == sa and s.get("namespace") == sa_ns
                   for s in b["subjects"]):
            continue
        if b["kind"] == "RoleBinding" and b["metadata"].get("namespace") != namespace:
            continue
        ref = b["roleRef"]
        role = roles.get((ref["kind"], b["metadata"].get("namespace") if ref["kind"] == "Role" else None,
                          ref["name"]))
        if role is None:
            continue
        for r in role.get("rules", []):
            for g in r.get("apiGroups", []):
                for res in r.get("resources", []):
                    for v in r.get("verbs", []):
                        out.add((g, res, v))
    return out


def check_sidecar_rbac(d):
    objs = objects(d)
    rbac = [o for o in yaml.safe_load_all(read(os.path.join(d, "kubernetes", "rbac.yaml"))) if o]
    for kind, name in (("Deployment", "rexray-csi-controller"), ("DaemonSet", "rexray-csi-node")):
        ns, spec, _ = pod_spec_of(objs, kind, name)
        eng = engine(spec)
        have = granted(rbac, ns, spec["serviceAccountName"], ns)
        for c in spec["containers"]:
            if c is eng:
                continue
            side = sidecar_name(c)
            key = side if side in NEEDS else side.replace("csi-", "", 1)
            assert key in NEEDS, "no RBAC needs stated for %s" % side
            missing = [n for n in NEEDS[key] if n not in have and (n[0], n[1], "*") not in have]
            assert not missing, "%s may not %s" % (side, missing)
            if "--leader-election" in c.get("args", []):
                missing = [n for n in LEASES if n not in have]
                assert not missing, "%s elects a leader but may not %s in %s" % (side, missing, ns)
        if kind == "DaemonSet":
            assert not have, "the node pods need no API access, yet they have %s" % sorted(have)
            assert spec.get("automountServiceAccountToken") is False


def check_controller_link(d):
    """The node agents reach the controller's server through its Service."""
    objs = objects(d)
    ns, cspec, dep = pod_spec_of(objs, "Deployment", "rexray-csi-controller")
    _, nspec, _ = pod_spec_of(objs, "DaemonSet", "rexray-csi-node")
    server = configmap_config(objs, cspec, engine(cspec))
    agent = configmap_config(objs, nspec, engine(nspec))
    m = re.fullmatch(r"tcp://([a-z0-9-]+)\.([a-z0-9-]+)\.svc:(\d+)", agent["libstorage"]["host"])
    assert m, agent["libstorage"]["host"]
    svc = one(objs, "Service", m.group(1))
    assert svc["metadata"]["namespace"] == m.group(2) == ns
    port = [p for p in svc["spec"]["ports"] if p["port"] == int(m.group(3))]
    assert len(port) == 1, "the Service has no port %s" % m.group(3)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items(), "the Service selects no controller pod"
    cports = {p["name"]: p["containerPort"] for p in engine(cspec).get("ports", [])}
    target = cports.get(port[0]["targetPort"], port[0]["targetPort"])
    addrs = [e["address"] for e in server["libstorage"]["server"]["endpoints"].values()]
    assert "tcp://0.0.0.0:%s" % target in addrs, "the server listens on %s, the Service sends to %s" % (addrs, target)
    for cfg, spec in ((server, cspec), (agent, nspec)):
        assert cfg["loop"]["volumePath"] == "/shared/rexray"
        v, _ = mount_of(engine(spec), cfg["loop"]["volumePath"])
        assert volume(spec, v)["hostPath"]["path"] == "/shared/rexray", "the images are not the shared directory"


def check_no_secrets(d):
    objs = objects(d)
    assert not [o for o in objs if o["kind"] == "Secret"], "no Secret object in the manifests"
    for root, _, names in os.walk(d):
        for n in names:
            text = read(os.path.join(root, n))
            assert "PRIVATE KEY" not in text, "%s holds a key" % n
            assert not re.search(r"eyJ[A-Za-z0-9_-]{10,}\.", text), "%s holds a token" % n


def check_images(d):
    """Sidecars are upstream images with pinned tags, each named in
    docs/csi.md; the engine image is the same placeholder everywhere."""
    objs = objects(d)
    doc = read(DOC)
    for o in objs:
        if o["kind"] not in ("Deployment", "DaemonSet"):
            continue
        spec = o["spec"]["template"]["spec"]
        eng = engine(spec)
        for c in spec["containers"]:
            if c is not eng:
                sidecar_name(c)
                assert c["image"] in doc, "docs/csi.md does not state %s" % c["image"]
    for name in ("controller.nomad", "node.nomad"):
        _, job = nomad_job(d, name)
        assert block(nomad_plugin_task(job)[1], "config")["attrs"]["image"] == ENGINE_IMAGE, name
    assert ENGINE_IMAGE in doc


def check_nomad(d):
    types = {}
    for name, want_type, services in (("controller.nomad", "controller", "controller"),
                                      ("node.nomad", "node", "node")):
        _, job = nomad_job(d, name)
        group, task = nomad_plugin_task(job)
        plugin = block(task, "csi_plugin")["attrs"]
        assert plugin["type"] == want_type, name
        types[want_type] = plugin["id"]
        mount_dir = plugin["mount_dir"]
        env = block(task, "env")["attrs"]
        assert env.get("CSI_ENDPOINT") == "unix://%s/csi.sock" % mount_dir.rstrip("/"), \
            "%s: CSI_ENDPOINT %r is not the socket in mount_dir %s" % (name, env.get("CSI_ENDPOINT"), mount_dir)
        mod = csi_module(nomad_config(task))
        assert mod["host"] == env["CSI_ENDPOINT"], "%s: the csi module listens elsewhere" % name
        assert mod["csi"]["services"] == services, name
        config = block(task, "config")["attrs"]
        assert task["attrs"]["driver"] == "docker"
        group_vols = {labels[0]: b["attrs"] for labels, b in blocks(group, "volume")}
        mounts = {}
        for _, vm in blocks(task, "volume_mount"):
            a = vm["attrs"]
            assert a["volume"] in group_vols, "%s: volume_mount of an undeclared volume %s" % (name, a["volume"])
            assert group_vols[a["volume"]]["type"] == "host"
            mounts[a["destination"]] = a
        assert mounts.get("/shared/rexray"), "%s: no shared image directory" % name
        if want_type == "node":
            assert config.get("privileged") is True, "the node plugin must be privileged"
            assert "/dev" in mounts, "the node plugin needs the host's /dev"
            assert mounts.get("/var/lib/rexray", {}).get("propagation_mode") == "bidirectional", \
                "the node's state directory must propagate mounts both ways"
            assert job["attrs"]["type"] == "system", "one node plugin on every client"
        else:
            assert not config.get("privileged"), "the controller mounts nothing"
    assert set(types.values()) == {PLUGIN_ID}, "the two jobs register different plugins: %s" % types


def check_nomad_volume(d):
    v = hcl_parse(read(os.path.join(d, "nomad", "volume.hcl")))
    a = v["attrs"]
    assert a["type"] == "csi"
    assert a["plugin_id"] == PLUGIN_ID

    def gib(s):
        m = re.fullmatch(r"(\d+)GiB", s)
        assert m, "capacity %r is not N GiB" % s
        return int(m.group(1))
    assert 1 <= gib(a["capacity_min"]) <= gib(a["capacity_max"])
    cap = block(v, "capability")["attrs"]
    assert cap == {"access_mode": "single-node-writer", "attachment_mode": "file-system"}, cap
    assert block(v, "mount_options")["attrs"].get("fs_type") == "ext4"


CHECKS = [check_parses, check_kustomization, check_driver_name, check_csidriver_and_classes,
          check_controller_socket, check_node_socket, check_node_privileged,
          check_service_accounts, check_sidecar_rbac, check_controller_link, check_no_secrets,
          check_images, check_nomad, check_nomad_volume]


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_deploy(check):
    check(DEPLOY)


def test_hcl_parser_refuses_what_it_does_not_know():
    for bad in ('a = "x"\na = "y"\n', 'a = var.x\n', 'b "l" {\n', 'a = "\\q"\n', 'x = <<EOT\nno end\n',
                'a = [1 2]\n'):
        with pytest.raises(HclError):
            hcl_parse(bad)
    b = hcl_parse('# c\nj "n" {\n  a = ["x", 2,]\n  t = true // c\n  h = <<-E\n    y: 1\n    E\n}\n')
    (labels, body), = blocks(b, "j")
    assert labels == ["n"] and body["attrs"] == {"a": ["x", 2], "t": True, "h": "y: 1\n"}


# One breaking edit per check: (check, file under deploy/, old text, new).
BREAKS = [
    (check_parses, "kubernetes/node.yaml", "kind: DaemonSet\n", "kind: DaemonSet\n  oops: [\n"),
    (check_parses, "nomad/node.nomad", "        privileged = true\n", "        privileged = yes\n"),
    (check_parses, "Dockerfile", "COPY build/deb/", "COPY build/"),
    (check_kustomization, "kubernetes/kustomization.yaml", "  - volumesnapshotclass.yaml\n", ""),
    (check_driver_name, "kubernetes/storageclass.yaml", "provisioner: csi.rexray.io", "provisioner: rexray.io"),
    (check_driver_name, "kubernetes/volumesnapshotclass.yaml", "driver: csi.rexray.io", "driver: csi.rexray.com"),
    (check_driver_name, "kubernetes/csidriver.yaml", "name: csi.rexray.io", "name: rexray"),
    (check_driver_name, "kubernetes/node.yaml", "plugins/csi.rexray.io/csi.sock", "plugins/rexray/csi.sock"),
    (check_driver_name, "kubernetes/configmap.yaml", "services: node\n            driverName: csi.rexray.io",
     "services: node\n            driverName: rexray.csi"),
    (check_driver_name, "nomad/node.nomad", 'id        = "rexray"', 'id        = "rexray-c"'),
    (check_driver_name, "nomad/controller.nomad", "driverName: csi.rexray.io", "driverName: csi.example.com"),
    (check_csidriver_and_classes, "kubernetes/csidriver.yaml", "attachRequired: true", "attachRequired: false"),
    (check_csidriver_and_classes, "kubernetes/storageclass.yaml", "volumeBindingMode: WaitForFirstConsumer",
     "volumeBindingMode: Immediate"),
    (check_csidriver_and_classes, "kubernetes/storageclass.yaml", "allowVolumeExpansion: true",
     "allowVolumeExpansion: false"),
    (check_csidriver_and_classes, "kubernetes/volumesnapshotclass.yaml", "deletionPolicy: Delete",
     "deletionPolicy: Retain"),
    (check_controller_socket, "kubernetes/controller.yaml",
     "csi-resizer:v2.2.0\n          args:\n            - --csi-address=/csi/csi.sock",
     "csi-resizer:v2.2.0\n          args:\n            - --csi-address=/run/csi.sock"),
    (check_controller_socket, "kubernetes/configmap.yaml", "host: unix:///csi/csi.sock\n          csi:\n"
     "            services: controller", "host: unix:///plugin/csi.sock\n          csi:\n"
     "            services: controller"),
    (check_controller_socket, "kubernetes/controller.yaml",
     "csi-snapshotter:v8.6.0\n          args:\n            - --csi-address=/csi/csi.sock\n"
     "            - --leader-election\n            - --timeout=120s\n          volumeMounts:\n"
     "            - name: socket-dir\n              mountPath: /csi",
     "csi-snapshotter:v8.6.0\n          args:\n            - --csi-address=/csi/csi.sock\n"
     "            - --leader-election\n            - --timeout=120s\n          volumeMounts:\n"
     "            - name: socket-dir\n              mountPath: /sock"),
    (check_controller_socket, "kubernetes/configmap.yaml", "services: controller", "services: controller,node"),
    (check_node_socket, "kubernetes/node.yaml", "- --csi-address=/csi/csi.sock", "- --csi-address=/csi/node.sock"),
    (check_node_socket, "kubernetes/node.yaml", "path: /var/lib/kubelet/plugins/csi.rexray.io\n",
     "path: /var/lib/kubelet/plugins/rexray\n"),
    (check_node_privileged, "kubernetes/node.yaml", "privileged: true", "privileged: false"),
    (check_node_privileged, "kubernetes/node.yaml",
     "mountPath: /var/lib/kubelet\n              mountPropagation: Bidirectional",
     "mountPath: /var/lib/kubelet\n              mountPropagation: HostToContainer"),
    (check_node_privileged, "kubernetes/node.yaml", "path: /dev\n", "path: /tmp/dev\n"),
    (check_service_accounts, "kubernetes/controller.yaml", "serviceAccountName: rexray-csi-controller",
     "serviceAccountName: csi-controller"),
    (check_service_accounts, "kubernetes/rbac.yaml", "  name: rexray-csi-node\n  namespace: rexray\n",
     "  name: rexray-csi-node\n  namespace: default\n"),
    (check_service_accounts, "kubernetes/rbac.yaml", "kind: ClusterRole\n  name: rexray-csi-resizer\n",
     "kind: ClusterRole\n  name: external-resizer-runner\n"),
    (check_sidecar_rbac, "kubernetes/rbac.yaml",
     '    resources: ["volumeattachments"]\n    verbs: ["get", "list", "watch", "patch"]',
     '    resources: ["volumeattachments"]\n    verbs: ["get", "list", "watch"]'),
    (check_sidecar_rbac, "kubernetes/rbac.yaml", 'resources: ["persistentvolumeclaims/status"]',
     'resources: ["persistentvolumeclaims"]'),
    (check_sidecar_rbac, "kubernetes/rbac.yaml", 'resources: ["leases"]', 'resources: ["configmaps"]'),
    (check_sidecar_rbac, "kubernetes/rbac.yaml", 'resources: ["volumesnapshotcontents/status"]',
     'resources: ["volumesnapshots/status"]'),
    (check_sidecar_rbac, "kubernetes/rbac.yaml", "  name: rexray-csi-provisioner\nsubjects:\n"
     "  - kind: ServiceAccount\n    name: rexray-csi-controller",
     "  name: rexray-csi-provisioner\nsubjects:\n  - kind: ServiceAccount\n    name: rexray-csi-node"),
    (check_controller_link, "kubernetes/configmap.yaml", "rexray-controller.rexray.svc:7979",
     "rexray-controller.rexray.svc:9797"),
    (check_controller_link, "kubernetes/controller.yaml", "      targetPort: libstorage", "      targetPort: 8080"),
    (check_no_secrets, "kubernetes/configmap.yaml", "  node.yml: |\n",
     "  key.pem: |\n    -----BEGIN PRIVATE KEY-----\n  node.yml: |\n"),
    (check_images, "kubernetes/controller.yaml", "csi-attacher:v4.12.0", "csi-attacher:latest"),
    (check_images, "kubernetes/node.yaml", "csi-node-driver-registrar:v2.17.0", "csi-node-driver-registrar:v2.9.0"),
    (check_nomad, "nomad/node.nomad", 'CSI_ENDPOINT    = "unix:///csi/csi.sock"',
     'CSI_ENDPOINT    = "unix:///var/csi.sock"'),
    (check_nomad, "nomad/controller.nomad", 'mount_dir = "/csi"', 'mount_dir = "/plugin"'),
    (check_nomad, "nomad/controller.nomad", "host: unix:///csi/csi.sock", "host: unix:///csi/other.sock"),
    (check_nomad, "nomad/node.nomad", 'type      = "node"', 'type      = "controller"'),
    (check_nomad, "nomad/node.nomad", "        privileged = true\n", "        privileged = false\n"),
    (check_nomad, "nomad/node.nomad", 'propagation_mode = "bidirectional"', 'propagation_mode = "private"'),
    (check_nomad, "nomad/node.nomad", "services: node", "services: controller"),
    (check_nomad_volume, "nomad/volume.hcl", 'plugin_id = "rexray"', 'plugin_id = "rexray-csi"'),
    (check_nomad_volume, "nomad/volume.hcl", '\n  attachment_mode = "file-system"',
     '\n  attachment_mode = "block-device"'),
    (check_nomad_volume, "nomad/volume.hcl", 'capacity_min = "1GiB"', 'capacity_min = "8GiB"'),
]


def test_every_check_has_a_break():
    assert {b[0] for b in BREAKS} == set(CHECKS)


@pytest.mark.parametrize("check,path,old,new", BREAKS,
                         ids=["%s:%s:%d" % (b[0].__name__, b[1], i) for i, b in enumerate(BREAKS)])
def test_check_catches(tmp_path, check, path, old, new):
    d = str(tmp_path / "deploy")
    shutil.copytree(DEPLOY, d)
    f = os.path.join(d, path)
    text = read(f)
    assert text.count(old) == 1, "the edit's text must be in %s exactly once" % path
    with open(f, "w") as out:
        out.write(text.replace(old, new))
    with pytest.raises((AssertionError, HclError, yaml.YAMLError, KeyError)):
        check(d)
