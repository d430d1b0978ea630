"""pytest plugin for the system tests under valgrind (tests/stress/run):
memcheck makes the engine 10-50 times slower, so the conftest's waits for a
service to answer, to stop and for HTTP replies are stretched. A stop must
end with SIGTERM and not SIGKILL, or valgrind writes no leak summary."""

import functools
import os
import sys

SCALE = float(os.environ.get("VG_TIME_SCALE", "10"))


def _patch(mod):
    if getattr(mod, "_vg_patched", False):
        return
    mod._vg_patched = True
    svc, api, home = mod.Service, mod.Api, mod.Home

    def stretch(fn, floor):
        @functools.wraps(fn)
        def wrapper(*args, timeout=None, **kw):
            if timeout is None:
                return fn(*args, **kw) if floor is None else fn(*args, timeout=floor, **kw)
            return fn(*args, timeout=max(timeout * SCALE, floor or 0), **kw)
        return wrapper

    svc.wait_ready = stretch(svc.wait_ready, 120.0)
    svc.stop = stretch(svc.stop, 120.0)
    svc.wait_exit = stretch(svc.wait_exit, None)
    api.request = stretch(api.request, mod.HTTP_TIMEOUT * SCALE)
    home.cli = stretch(home.cli, mod.CLI_TIMEOUT * SCALE)


def pytest_collection_finish(session):
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", "") or ""
        if name.endswith("conftest") and f.endswith(os.path.join("tests", "system",
                                                                 "conftest.py")):
            _patch(mod)
