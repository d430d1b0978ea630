#include "dvdi/dvdi.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "volplugin/volplugin.h"
#include "os/safepath.h"
#include "store/store.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/sys.h"

/* ---- the environment ---- */

enum field { F_NAME, F_DRIVER, F_OPTS, F_CPATH, F_DVDCLI, F_EXPLICIT, F_COUNT };

static const char *const prefixes[F_COUNT] = {
	"DVDI_VOLUME_NAME", "DVDI_VOLUME_DRIVER", "DVDI_VOLUME_OPTS",
	"DVDI_VOLUME_CONTAINERPATH", "DVDI_VOLUME_DVDCLI", "DVDI_VOLUME_EXPLICITCREATE",
};

/* The module's injection guard; "/" and ":" too, so no paths or URLs. */
static bool forbidden(unsigned char c)
{
	return c == '\0' || strchr("%/:;<>|`$'?^& {\"}[]\n\t\v\b\r\\", c) != NULL;
}

static int check_chars(const char *var, const char *v, struct err *e)
{
	for (const char *p = v; *p; p++)
		if (forbidden((unsigned char)*p))
			return err_set(e, -EINVAL, "%s: the value contains the forbidden character "
				       "'%c' (0x%02x)", var, isprint((unsigned char)*p) ? *p : '?',
				       (unsigned char)*p);
	return 0;
}

/* Which field and slot a variable name means; -1 when not ours, -EINVAL
 * when it starts like ours but is malformed (the original failed then). */
static int classify(const char *key, size_t klen, enum field *f, int *slot, struct err *e)
{
	for (int i = 0; i < F_COUNT; i++) {
		size_t plen = strlen(prefixes[i]);
		if (klen < plen || strncmp(key, prefixes[i], plen) != 0)
			continue;
		if (klen == plen) {
			*slot = 0;
		} else if (klen == plen + 1 && isdigit((unsigned char)key[plen])) {
			*slot = key[plen] - '0';
		} else {
			return err_set(e, -EINVAL, "illegal variable '%.*s': %s takes one digit 0-9 "
				       "at most", (int)(klen > 64 ? 64 : klen), key, prefixes[i]);
		}
		*f = (enum field)i;
		return 0;
	}
	return -1;
}

/* val (len bytes) into dst, a field of size bytes; var names it. */
static int copy_bounded(char *dst, size_t size, const char *var, const char *val, size_t len,
			struct err *e)
{
	if (len >= size)
		return err_set(e, -EINVAL, "%s: longer than %zu bytes", var, size - 1);
	memcpy(dst, val, len + 1);
	return 0;
}

static int set_field(struct dvdi_volume *v, enum field f, const char *var, const char *val,
		     struct err *e)
{
	size_t len = strlen(val);
	int r;

	if (f != F_CPATH && (r = check_chars(var, val, e)) < 0)
		return r;
	switch (f) {
	case F_NAME:
		if (len >= sizeof(v->name))
			return err_set(e, -EINVAL, "%s: longer than 255 bytes", var);
		if (strcmp(val, ".") == 0 || strcmp(val, "..") == 0)
			return err_set(e, -EINVAL, "%s: '%s' is not a volume name", var, val);
		strcpy(v->name, val);
		break;
	case F_DRIVER:
		return copy_bounded(v->driver, sizeof(v->driver), var, val, len, e);
	case F_OPTS:
		return copy_bounded(v->opts, sizeof(v->opts), var, val, len, e);
	case F_CPATH:
		if (len >= sizeof(v->container_path))
			return err_set(e, -EINVAL, "%s: path too long", var);
		if (len && val[0] != '/')
			return err_set(e, -EINVAL, "%s: container paths must start with /", var);
		for (const char *p = val; *p; p++)
			if ((unsigned char)*p < 0x20)
				return err_set(e, -EINVAL, "%s: control characters in the path",
					       var);
		strcpy(v->container_path, val);
		break;
	case F_EXPLICIT: {
		char t[16];
		size_t a = 0, b = len;
		while (a < b && isspace((unsigned char)val[a]))
			a++;
		while (b > a && isspace((unsigned char)val[b - 1]))
			b--;
		snprintf(t, sizeof(t), "%.*s", (int)(b - a), val + a);
		v->explicit_create = strcasecmp(t, "true") == 0;
		break;
	}
	case F_DVDCLI:
		/* we talk to the plugin ourselves: nothing is executed */
		log_debug("dvdi: %s is ignored (no dvdcli is run)", var);
		break;
	case F_COUNT:
		break;
	}
	return 0;
}

int dvdi_parse_env(char *const *envp, struct dvdi_request *out, struct err *e)
{
	struct dvdi_volume slots[DVDI_SLOTS];
	int r;

	memset(slots, 0, sizeof(slots));
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; envp && envp[i]; i++) {
		const char *kv = envp[i], *eq = strchr(kv, '=');
		enum field f = F_NAME;
		int slot = 0;
		char var[64];
		if (!eq)
			continue;
		r = classify(kv, (size_t)(eq - kv), &f, &slot, e);
		if (r == -1)
			continue;
		if (r < 0)
			return r;
		snprintf(var, sizeof(var), "%.*s", (int)(eq - kv), kv);
		if ((r = set_field(&slots[slot], f, var, eq + 1, e)) < 0)
			return r;
	}
	for (int s = 0; s < DVDI_SLOTS; s++) {
		if (!slots[s].name[0])
			continue;
		slots[s].slot = s;
		if (!slots[s].driver[0])
			strcpy(slots[s].driver, DVDI_DEFAULT_DRIVER);
		out->vols[out->n++] = slots[s];
	}
	return 0;
}

int dvdi_container_id_check(const char *id, struct err *e)
{
	size_t len = id ? strlen(id) : 0;

	if (len == 0 || len > 255)
		return err_set(e, -EINVAL, "container ID must be 1-255 bytes");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];
		if (!isalnum(c) && !strchr("_.:-", c))
			return err_set(e, -EINVAL, "container ID '%.64s': only letters, digits, "
				       "'_', '.', ':' and '-' are allowed", id);
	}
	return 0;
}

/* ---- plumbing ---- */

static int lock_host(const struct dvdi *d, struct err *e)
{
	int fd = sys_open(d->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (fd < 0)
		return err_set(e, -errno, "dvdi: cannot open lock '%s': %s", d->lock_path,
			       strerror(errno));
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int r = -errno;
			close(fd);
			return err_set(e, r, "dvdi: cannot lock '%s': %s", d->lock_path,
				       strerror(-r));
		}
	}
	return fd;
}

/* "k=v,k2=v2" -> {"k":"v","k2":"v2"}; empty pieces skipped; a piece
 * without '=' is a key with an empty value. */
static json_t *opts_json(const char *opts)
{
	json_t *o = json_object();
	char buf[4096], *save = NULL;

	if (!o)
		return NULL;
	snprintf(buf, sizeof(buf), "%s", opts);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq = '\0';
		if (*tok)
			json_object_set_new(o, tok, json_string(eq ? eq + 1 : ""));
	}
	return o;
}

static int plugin_open(const struct dvdi *d, const char *driver, struct volplugin **p,
		       struct err *e)
{
	struct volplugin_opts o = { .timeout_ms = d->timeout_ms, .discover_ms = d->discover_ms };

	return volplugin_open(driver, &o, p, e);
}

/* Get (create unless explicit) and Mount one volume. */
static int mount_one(const struct dvdi *d, const struct store_dvdi_row *row, char **mountpoint,
		     struct err *e)
{
	struct volplugin *p = NULL;
	char *vname = NULL;
	int r;

	if ((r = plugin_open(d, row->driver, &p, e)) < 0)
		return r;
	r = volplugin_get(p, row->name, &vname, NULL, e);
	if (r < 0 && row->explicit_create) {
		err_prefix(e, "volume '%s' (explicit create)", row->name);
		goto out;
	}
	if (r < 0) {
		json_t *opts = opts_json(row->options);
		err_clear(e);
		r = volplugin_create(p, row->name, opts, e);
		json_decref(opts);
		if (r < 0)
			goto out;
	}
	if ((r = volplugin_mount(p, row->name, DVDI_PLUGIN_ID, mountpoint, e)) < 0)
		goto out;
	if (!*mountpoint || !**mountpoint) {
		free(*mountpoint);
		*mountpoint = NULL;
		r = err_set(e, -EIO, "plugin '%s' mounted '%s' but returned no mountpoint",
			    row->driver, row->name);
	}
out:
	free(vname);
	volplugin_close(p);
	return r;
}

static void unmount_one(const struct dvdi *d, const char *driver, const char *name)
{
	struct err e = ERR_INIT;
	struct volplugin *p = NULL;

	if (plugin_open(d, driver, &p, &e) == 0 &&
	    volplugin_unmount(p, name, DVDI_PLUGIN_ID, &e) == 0) {
		log_info("dvdi: unmounted %s/%s", driver, name);
	} else {
		log_warn("dvdi: unmount of %s/%s failed (%s); continuing on the assumption it was "
			 "unmounted by hand", driver, name, e.msg);
	}
	volplugin_close(p);
}

/* The mountpoint another container's row already has for (driver, name). */
static bool shared_mountpoint(const struct store_dvdi_row *all, size_t n, const char *container,
			      const struct dvdi_volume *v, char *out, size_t outsz)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(all[i].container_id, container) == 0 ||
		    strcasecmp(all[i].driver, v->driver) != 0 ||
		    strcasecmp(all[i].name, v->name) != 0 || strcmp(all[i].state, "mounted") != 0 ||
		    !all[i].mountpoint[0])
			continue;
		snprintf(out, outsz, "%s", all[i].mountpoint);
		return true;
	}
	return false;
}

/* Container paths must exist, or lie under /tmp, where they are made;
 * never through a symlink (os/safepath: a container's root filesystem is
 * its image's, and an image may plant one pointing anywhere on the host). */
static int check_container_path(const char *cp, struct err *e)
{
	char what[PATH_MAX + 40];
	struct stat st;
	int fd;

	if (!cp[0])
		return 0;
	snprintf(what, sizeof(what), "container path '%s'", cp);
	if (lstat(cp, &st) == 0) {
		/* whoever binds it (we with --bind, or Mesos' isolator) binds
		 * onto what the path resolves to: no symlink on the way */
		if ((fd = safe_open_dir(AT_FDCWD, cp, 0, what, e)) < 0)
			return fd;
		close(fd);
		return 0;
	}
	if (strncmp(cp, "/tmp/", 5) != 0)
		return err_set(e, -ENOENT, "container path '%s' must exist, or be under /tmp", cp);
	if ((fd = safe_mkdir_p(AT_FDCWD, cp, 0755, 0, what, e)) < 0)
		return err_prefix(e, "could not create container path dir");
	close(fd);
	return 0;
}

/* The original's bind: the mountpoint takes the container path's mode
 * and owner, then an rbind of it onto the container path. */
int dvdi_bind(const char *mountpoint, const char *cp, struct err *e)
{
	char what[PATH_MAX + 40];
	int cpfd, mpfd = -1, r = 0;
	struct stat st;

	/* both resolved once, without following a symlink; everything after
	 * goes through these descriptors */
	snprintf(what, sizeof(what), "container path '%s'", cp);
	if ((cpfd = safe_open_dir(AT_FDCWD, cp, 0, what, e)) < 0)
		return err_prefix(e, "prepare() failed");
	mpfd = sys_open(mountpoint, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (mpfd < 0) {
		r = err_set(e, -errno, "prepare() failed: mountpoint '%s' is not a plain "
			    "directory: %s", mountpoint, strerror(errno));
		goto out;
	}
	if (fstat(cpfd, &st) < 0)
		r = err_set(e, -errno, "prepare() failed during stat attempt: %s: %s", cp,
			    strerror(errno));
	else if (fchmod(mpfd, st.st_mode & 07777) < 0)
		r = err_set(e, -errno, "prepare() failed during chmod attempt: %s: %s",
			    mountpoint, strerror(errno));
	else if (fchown(mpfd, st.st_uid, st.st_gid) < 0)
		r = err_set(e, -errno, "prepare() failed during chown attempt: %s: %s",
			    mountpoint, strerror(errno));
	else if ((r = safe_bind_fd(mpfd, cpfd, true, NULL, e)) < 0)
		err_prefix(e, "cannot bind '%s' onto '%s'", mountpoint, cp);
out:
	if (mpfd >= 0)
		close(mpfd);
	close(cpfd);
	return r;
}

/* ---- prepare ---- */

struct plan {
	struct store_dvdi_row rows[DVDI_SLOTS];
	char mps[DVDI_SLOTS][PATH_MAX];
	bool tried[DVDI_SLOTS];	  /* this prepare called the plugin's Mount */
	bool bound[DVDI_SLOTS];
	size_t n;
};

static void rollback(const struct dvdi *d, const char *container, struct plan *pl)
{
	struct err ignore = ERR_INIT;

	for (size_t i = pl->n; i-- > 0;) {
		if (pl->bound[i] && sys_umount2(pl->rows[i].container_path, MNT_DETACH) < 0)
			log_warn("dvdi: rollback: cannot unbind %s", pl->rows[i].container_path);
		/* a Mount that failed (or timed out) may have half happened */
		if (pl->tried[i])
			unmount_one(d, pl->rows[i].driver, pl->rows[i].name);
	}
	store_dvdi_delete(d->store, container, -1, &ignore);
}

/* Decide, before touching anything, which volumes are new and which are
 * shared with a container already running here. */
static int make_plan(const struct dvdi *d, const char *container, const struct dvdi_request *req,
		     struct plan *pl, struct err *e)
{
	struct store_dvdi_row *all = NULL;
	size_t n_all = 0;
	int r;

	memset(pl, 0, sizeof(*pl));
	if ((r = store_dvdi_rows(d->store, NULL, &all, &n_all, e)) < 0)
		return r;
	for (size_t i = 0; i < req->n; i++) {
		const struct dvdi_volume *v = &req->vols[i];
		bool dup = false;
		for (size_t j = 0; j < pl->n; j++) {
			if (strcasecmp(pl->rows[j].driver, v->driver) == 0 &&
			    strcasecmp(pl->rows[j].name, v->name) == 0)
				dup = true;
		}
		if (dup && v->container_path[0]) {
			r = err_set(e, -EINVAL, "volume %s/%s is listed twice with a container path",
				    v->driver, v->name);
			goto out;
		}
		if (dup)
			continue;
		if ((r = check_container_path(v->container_path, e)) < 0)
			goto out;
		struct store_dvdi_row *row = &pl->rows[pl->n];
		row->container_id = (char *)container;
		row->slot = v->slot;
		row->driver = (char *)v->driver;
		row->name = (char *)v->name;
		row->options = (char *)v->opts;
		row->container_path = (char *)v->container_path;
		row->explicit_create = v->explicit_create;
		if (shared_mountpoint(all, n_all, container, v, pl->mps[pl->n], PATH_MAX)) {
			row->state = "mounted";
			row->mountpoint = pl->mps[pl->n];
			row->owner = 0;
		} else {
			row->state = "pending";
			row->mountpoint = "";
			row->owner = 1;
		}
		pl->n++;
	}
out:
	store_dvdi_rows_free(all, n_all);
	return r;
}

static int prepare_locked(struct dvdi *d, const char *container, const struct dvdi_request *req,
			  bool do_bind, struct dvdi_mounted *out, size_t *n_out, struct err *e)
{
	struct plan pl;
	int r;

	if ((r = make_plan(d, container, req, &pl, e)) < 0)
		return r;
	/* checkpoint first: a crash from here on leaves rows recover can act on */
	if ((r = store_dvdi_add(d->store, pl.rows, pl.n, e)) < 0)
		return r;
	for (size_t i = 0; i < pl.n; i++) {
		struct store_dvdi_row *row = &pl.rows[i];
		char *mp = NULL;
		if (!row->owner)
			continue;
		pl.tried[i] = true;
		if ((r = mount_one(d, row, &mp, e)) < 0) {
			err_prefix(e, "prepare() failed during mount attempt of %s/%s", row->driver,
				   row->name);
			goto fail;
		}
		snprintf(pl.mps[i], PATH_MAX, "%s", mp);
		free(mp);
		row->mountpoint = pl.mps[i];
		if ((r = store_dvdi_update(d->store, container, row->slot, "mounted", pl.mps[i], 0,
					   e)) < 0)
			goto fail;
	}
	for (size_t i = 0; do_bind && i < pl.n; i++) {
		struct store_dvdi_row *row = &pl.rows[i];
		if (!row->container_path[0])
			continue;
		if ((r = dvdi_bind(pl.mps[i], row->container_path, e)) < 0)
			goto fail;
		pl.bound[i] = true;
		if ((r = store_dvdi_update(d->store, container, row->slot, "mounted", pl.mps[i], 1,
					   e)) < 0)
			goto fail;
	}
	*n_out = 0;
	for (size_t i = 0; i < pl.n; i++) {
		struct dvdi_mounted *m = &out[(*n_out)++];
		m->slot = pl.rows[i].slot;
		snprintf(m->driver, sizeof(m->driver), "%s", pl.rows[i].driver);
		snprintf(m->name, sizeof(m->name), "%s", pl.rows[i].name);
		snprintf(m->mountpoint, sizeof(m->mountpoint), "%s", pl.mps[i]);
		snprintf(m->container_path, sizeof(m->container_path), "%s",
			 pl.rows[i].container_path);
	}
	return 0;
fail:
	rollback(d, container, &pl);
	return r;
}

int dvdi_prepare(struct dvdi *d, const char *container_id, const struct dvdi_request *req,
		 bool do_bind, struct dvdi_mounted *out, size_t *n_out, struct err *e)
{
	int fd, r;

	*n_out = 0;
	if ((r = dvdi_container_id_check(container_id, e)) < 0)
		return r;
	if (req->n == 0)
		return 0;
	if ((fd = lock_host(d, e)) < 0)
		return fd;
	r = prepare_locked(d, container_id, req, do_bind, out, n_out, e);
	close(fd);
	return r;
}

/* ---- cleanup and recover ---- */

static int cleanup_locked(struct dvdi *d, const char *container, struct err *e)
{
	struct store_dvdi_row *rows = NULL;
	size_t n = 0;
	int r;

	if ((r = store_dvdi_rows(d->store, container, &rows, &n, e)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		int64_t others = 0;
		if (rows[i].bound && sys_umount2(rows[i].container_path, MNT_DETACH) < 0 &&
		    errno != EINVAL && errno != ENOENT)
			log_warn("dvdi: cannot unbind %s: %s", rows[i].container_path,
				 strerror(errno));
		if ((r = store_dvdi_users(d->store, rows[i].driver, rows[i].name, container,
					  &others, e)) < 0)
			goto out;
		if (others == 0)
			unmount_one(d, rows[i].driver, rows[i].name);
		else
			log_info("dvdi: %s/%s stays: %lld other container(s) use it",
				 rows[i].driver, rows[i].name, (long long)others);
	}
	r = store_dvdi_delete(d->store, container, -1, e);
out:
	store_dvdi_rows_free(rows, n);
	return r;
}

int dvdi_cleanup(struct dvdi *d, const char *container_id, struct err *e)
{
	int fd, r;

	if ((r = dvdi_container_id_check(container_id, e)) < 0)
		return r;
	if ((fd = lock_host(d, e)) < 0)
		return fd;
	r = cleanup_locked(d, container_id, e);
	close(fd);
	return r;
}

static bool listed(char *const *running, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(running[i], id) == 0)
			return true;
	return false;
}

int dvdi_recover(struct dvdi *d, char *const *running, size_t n, size_t *cleaned,
		 struct err *e)
{
	struct store_dvdi_row *rows = NULL;
	size_t nrows = 0;
	int fd, r;

	*cleaned = 0;
	if ((fd = lock_host(d, e)) < 0)
		return fd;
	if ((r = store_dvdi_rows(d->store, NULL, &rows, &nrows, e)) < 0)
		goto out;
	for (size_t i = 0; i < nrows; i++) {
		/* rows come grouped by container: act once per container */
		if (i > 0 && strcmp(rows[i].container_id, rows[i - 1].container_id) == 0)
			continue;
		if (listed(running, n, rows[i].container_id))
			continue;
		log_info("dvdi: recover: container %s is gone; cleaning up", rows[i].container_id);
		if ((r = cleanup_locked(d, rows[i].container_id, e)) < 0)
			goto out;
		(*cleaned)++;
	}
out:
	store_dvdi_rows_free(rows, nrows);
	close(fd);
	return r;
}
