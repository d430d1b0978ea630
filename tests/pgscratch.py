"""A throw-away PostgreSQL server for the tests (issue 19): Debian's
postgresql binaries, initdb into a temp directory owned by the postgres
user, the server listening on a unix socket in that directory only (which
network namespaces reach as well: it is a file), stopped by its PID.

    pg = PgScratch().start()
    uri = pg.create_db("t1")   # postgresql:///t1?host=...&port=...&user=rexray
    pg.stop(); pg.start()      # a restart keeps the data
    pg.destroy()

Also a command: `python3 tests/pgscratch.py start DIR` prints the
environment for the unit tests (RR_TEST_PG_HOST, _PORT, _USER) and leaves
the server running; `... stop DIR` stops it and removes DIR."""

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

USER = "rexray"
PORT = 5432


def pg_bindir():
    """The newest installed PostgreSQL's bin directory, or None."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                  key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(dirs[-1]) if dirs else None


def missing():
    """None when a scratch server can run here, else why not."""
    if os.geteuid() != 0:
        return "needs root (to run PostgreSQL as the postgres user)"
    if not pg_bindir():
        return "needs Debian's postgresql package"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "needs the postgres user (Debian's postgresql package)"
    return None


class PgScratch:
    def __init__(self, root=None):
        self.root = root or tempfile.mkdtemp(prefix="rrpg")
        self.data = os.path.join(self.root, "data")
        self.sock = os.path.join(self.root, "sock")
        self.bindir = pg_bindir()
        self.proc = None
        self.pid = None

    def _as_postgres(self, *args, **kw):
        return subprocess.run(["runuser", "-u", "postgres", "--"] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              **kw)

    def start(self, timeout=60):
        pw = pwd.getpwnam("postgres")
        if not os.path.isdir(self.data):
            os.makedirs(self.sock, exist_ok=True)
            os.chmod(self.root, 0o755)
            os.chown(self.sock, pw.pw_uid, pw.pw_gid)
            os.makedirs(self.data)
            os.chown(self.data, pw.pw_uid, pw.pw_gid)
            p = self._as_postgres(os.path.join(self.bindir, "initdb"), "-D", self.data,
                                  "-U", USER, "-A", "trust", "-E", "UTF8", "--locale=C",
                                  "--no-sync", timeout=timeout)
            if p.returncode != 0:
                raise RuntimeError("initdb failed: %s" % p.stdout)
        self.log = open(os.path.join(self.root, "postgres.log"), "ab")
        # fsync off: a test's crash is a process's, never the machine's
        self.proc = subprocess.Popen(
            ["runuser", "-u", "postgres", "--", os.path.join(self.bindir, "postgres"),
             "-D", self.data, "-k", self.sock, "-p", str(PORT), "-c", "listen_addresses=",
             "-c", "fsync=off", "-c", "max_connections=200", "-c", "shared_buffers=16MB"],
            stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("postgres exited: %s" % self.logs())
            p = subprocess.run([os.path.join(self.bindir, "pg_isready"), "-h", self.sock,
                                "-p", str(PORT), "-U", USER], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if p.returncode == 0:
                self.pid = self.postmaster_pid()
                return self
            time.sleep(0.1)
        raise RuntimeError("postgres did not start: %s" % self.logs())

    def postmaster_pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def logs(self):
        try:
            with open(os.path.join(self.root, "postgres.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self, sig=signal.SIGINT):
        """Stop the server by its PID: SIGINT is PostgreSQL's fast shutdown,
        SIGKILL a crash (the next start recovers from its WAL)."""
        if self.pid:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
        if self.proc:
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
            self.log.close()
        if sig == signal.SIGKILL and self.pid:
            # its children (backends) follow the postmaster within moments
            self._wait_children_gone()
        self.proc = self.pid = None

    def _wait_children_gone(self, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not os.path.exists(os.path.join(self.data, "postmaster.pid")):
                return
            try:
                pid = self.postmaster_pid()
                os.kill(pid, 0)
            except (OSError, ValueError):
                return
            time.sleep(0.1)

    def destroy(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, sql, db="postgres"):
        p = subprocess.run([os.path.join(self.bindir, "psql"), "-h", self.sock, "-p",
                            str(PORT), "-U", USER, "-d", db, "-v", "ON_ERROR_STOP=1", "-Atc",
                            sql], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            raise RuntimeError("psql %r: %s" % (sql, p.stdout))
        return p.stdout

    def uri(self, db="postgres"):
        return uri_at(self.sock, db)

    def create_db(self, name):
        return create_db_at(self.sock, name)


def uri_at(sock, db):
    """The URI of database db of the scratch server whose socket dir is sock."""
    return "postgresql:///%s?host=%s&port=%d&user=%s" % (db, sock, PORT, USER)


def create_db_at(sock, db):
    """Make database db on the scratch server at sock; its URI."""
    psql = os.path.join(pg_bindir(), "psql")
    p = subprocess.run([psql, "-h", sock, "-p", str(PORT), "-U", USER, "-d", "postgres",
                        "-v", "ON_ERROR_STOP=1", "-qAtc", 'CREATE DATABASE "%s"' % db],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise RuntimeError("CREATE DATABASE %s: %s" % (db, p.stdout))
    return uri_at(sock, db)


def main(argv):
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        sys.stderr.write("usage: pgscratch.py start|stop DIR\n")
        return 2
    pg = PgScratch(argv[2])
    if argv[1] == "start":
        os.makedirs(argv[2], exist_ok=True)
        pg.start()
        print("RR_TEST_PG_HOST=%s\nRR_TEST_PG_PORT=%d\nRR_TEST_PG_USER=%s"
              % (pg.sock, PORT, USER))
        return 0
    try:
        pg.pid = pg.postmaster_pid()
    except OSError:
        pg.pid = None
    if pg.pid:
        os.kill(pg.pid, signal.SIGINT)
        for _ in range(300):
            try:
                os.kill(pg.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
    shutil.rmtree(argv[2], ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
