/*
 * volume: `rexray volume ls|inspect|create|rm|attach|detach|mount|unmount|
 * copy|resize`.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli/cli.h"
#include "api/codec.h"
#include "cli/help.h"
#include "integration/integration.h"
#include "store/store.h"
#include "util/names.h"
#include "util/size.h"

static struct storage_client *cl(struct engine *en)
{
	return en->client;
}

/*
 * REX-Ray's argument matching: the ID, then the Name, each exact, exact
 * ignoring case, then a unique prefix (case-sensitive, then not).
 * Returns the index in l, -ENOENT when nothing matched, -EEXIST when a
 * prefix is ambiguous. *how gets the pass that matched (0 = exact).
 */
static int match_volume(const struct volume_list *l, const char *arg, int *how)
{
	for (int pass = 0; pass < 4; pass++) {
		*how = pass;
		for (int field = 0; field < 2; field++) {
			int found = -1, count = 0;
			size_t alen = strlen(arg);
			for (size_t i = 0; i < l->n; i++) {
				const char *s = field == 0 ? l->v[i].id : l->v[i].name;
				bool hit;
				if (!s)
					continue;
				switch (pass) {
				case 0:
					hit = strcmp(s, arg) == 0;
					break;
				case 1:
					hit = strcasecmp(s, arg) == 0;
					break;
				case 2:
					hit = strncmp(s, arg, alen) == 0;
					break;
				default:
					hit = strncasecmp(s, arg, alen) == 0;
					break;
				}
				if (hit) {
					found = (int)i;
					count++;
				}
			}
			if (count == 1)
				return found;
			if (count > 1 && pass >= 2)
				return -EEXIST;
		}
	}
	return -ENOENT;
}

static int list(struct engine *en, int mask, struct volume_list *out, struct err *e)
{
	struct ls_ctx ctx = engine_ctx(en);

	return cl(en)->ops->volumes(cl(en), en->service, mask, &ctx, out, e);
}

/* How select_volumes matches its arguments. */
enum match_rule {
	MATCH_PREFIX, /* read-only commands: REX-Ray's prefix matching */
	MATCH_EXACT,  /* destructive ones: the exact ID or name, nothing else */
};

/* The volumes named by args (all when there are none), moved into out.
 * With MATCH_EXACT, an argument that only matches loosely (case, prefix)
 * selects nothing and the error names what it would have matched: `rm scr`
 * must never delete scratchvolume. */
static int select_volumes(struct engine *en, int mask, struct cli_args *a, struct volume_list *out,
			  bool all_when_empty, enum match_rule rule, struct err *e)
{
	struct volume_list l = { 0 };
	int r;

	if ((r = list(en, mask, &l, e)) < 0)
		return r;
	if (a->n_args == 0 && all_when_empty) {
		*out = l;
		return 0;
	}
	for (int i = 0; i < a->n_args; i++) {
		int how, k = match_volume(&l, a->args[i], &how);
		struct volume v;
		if (k >= 0 && how > 0 && rule == MATCH_EXACT) {
			r = err_set(e, -ENOENT, "no volume has the ID or name '%s' (did you mean "
				    "'%s'? this command takes an exact ID or name)", a->args[i],
				    l.v[k].name ? l.v[k].name : l.v[k].id);
			break;
		}
		if (k == -EEXIST && rule == MATCH_EXACT) {
			r = err_set(e, -ENOENT, "no volume has the ID or name '%s' (this command "
				    "takes an exact ID or name)", a->args[i]);
			break;
		}
		if (k == -EEXIST) {
			r = err_set(e, -EINVAL, "'%s' matches more than one volume", a->args[i]);
			break;
		}
		if (k < 0) {
			r = err_set(e, -ENOENT, "no volume matches '%s'", a->args[i]);
			break;
		}
		if (volume_copy(&v, &l.v[k]) < 0 || volume_list_push(out, &v) < 0) {
			volume_release(&v);
			r = err_set(e, -ENOMEM, "out of memory");
			break;
		}
	}
	volume_list_release(&l);
	if (r < 0)
		volume_list_release(out);
	return r;
}

int cli_find_volume(struct engine *en, const char *arg, bool loose, struct volume *out,
		    struct err *e)
{
	struct volume_list sel = { 0 };
	const char *args[1] = { arg };
	struct cli_args a = { .args = args, .n_args = 1 };
	int r;

	memset(out, 0, sizeof(*out));
	if (!*arg)
		return err_set(e, -EINVAL, "an empty volume ID or name");
	r = select_volumes(en, ATT_REQUESTED, &a, &sel, false, loose ? MATCH_PREFIX : MATCH_EXACT,
			   e);
	if (r == 0) {
		*out = sel.v[0];
		sel.n = 0; /* moved */
	}
	volume_list_release(&sel);
	return r;
}

static int parse_num(const char *what, const char *s, int64_t max, bool *has, int64_t *out,
		     struct err *e)
{
	char *end;
	long long n;

	*has = false;
	if (!s)
		return 0;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || *end || n < 0 || n > max)
		return err_set(e, -EINVAL, "--%s: invalid value '%s': expected an integer from 0 "
			       "to %lld", what, s, (long long)max);
	*has = true;
	*out = n;
	return 0;
}

/* Each volume's mount path on this host ("" when not mounted). */
static int paths_of(struct engine *en, const struct volume_list *l, char ***out, struct err *e)
{
	struct integration *ig;
	char **p;
	int r;

	if ((r = engine_integration(en, &ig, e)) < 0)
		return r;
	p = calloc(l->n + 1, sizeof(*p));
	if (!p)
		return err_set(e, -ENOMEM, "out of memory");
	for (size_t i = 0; i < l->n; i++) {
		if ((r = integ_path(ig, l->v[i].name, &p[i], e)) < 0) {
			integ_paths_free(p, i);
			return r;
		}
	}
	*out = p;
	return 0;
}

static int cmd_ls(struct engine *en, struct cli_args *a, enum out_format f)
{
	struct volume_list l = { 0 };
	struct err e = ERR_INIT;
	char **paths = NULL;
	int mask = ATT_REQUESTED;

	/* every volume, the Path empty for those not mounted here (REX-Ray's
	 * mask 15 listed only the attached ones) */
	if (a->path)
		mask = ATT_REQUESTED | ATT_MINE | ATT_DEVICES;
	if (a->attached)
		mask = ATT_REQUESTED | ATT_MINE | ATT_ATTACHED;
	else if (a->available)
		mask = ATT_REQUESTED | ATT_UNATTACHED;
	if (!en->have_iid)
		mask &= ~(ATT_MINE | ATT_DEVICES);
	if (select_volumes(en, mask, a, &l, true, MATCH_PREFIX, &e) < 0 ||
	    (a->path && paths_of(en, &l, &paths, &e) < 0)) {
		cli_error("volume ls", &e);
		volume_list_release(&l);
		return 1;
	}
	cli_print_volumes(&l, paths, f, a->quiet);
	integ_paths_free(paths, l.n);
	volume_list_release(&l);
	return 0;
}

/* One mount or unmount of a named volume: 0, or 1 after saying why. */
typedef int (*name_op)(struct integration *ig, const char *name, const struct integ_mount_opts *o,
		       struct err *e);

/* The path on stdout (for scripts); what else happened on stderr. */
static int op_mount(struct integration *ig, const char *name, const struct integ_mount_opts *in,
		    struct err *e)
{
	struct integ_mount_opts o = *in;
	bool created = false;
	int64_t uses = 0;
	char *path = NULL;
	int r;

	o.created = &created;
	o.uses = &uses;
	r = integ_mount(ig, name, NULL, &o, &path, e);
	if (r == 0) {
		if (created)
			fprintf(stderr, "rexray: volume mount: created volume '%s' (no volume had "
				"that name; create.implicit)\n", name);
		if (uses > 1)
			fprintf(stderr, "rexray: volume mount: '%s' was mounted already: %lld uses "
				"now, unmount once for each\n", name, (long long)uses);
		printf("%s\n", path);
		fflush(stdout);
	}
	free(path);
	return r;
}

static int op_unmount(struct integration *ig, const char *name, const struct integ_mount_opts *o,
		      struct err *e)
{
	struct integ_unmount_result res;
	char *path = NULL;
	int r;

	(void)o;
	if ((r = integ_path(ig, name, &path, e)) < 0)
		return r;
	/* even when nothing is mounted: it finishes what an unmount cut short
	 * left (the device, the attachment) */
	r = integ_unmount_report(ig, name, NULL, &res, e);
	if (r == 0 && (!path || !*path) && !res.counted)
		fprintf(stderr, "rexray: volume unmount: '%s' was not mounted on this host\n", name);
	else if (r == 0 && res.left > 0)
		fprintf(stderr, "rexray: volume unmount: '%s': %lld use%s left, still mounted at "
			"%s\n", name, (long long)res.left, res.left == 1 ? "" : "s", path);
	if (r == 0)
		printf("%s\n", name);
	free(path);
	return r;
}

/* mount / unmount: each volume by name (mount creates implicitly when
 * create.implicit). A mount or an unmount is never cut in half by Ctrl-C
 * or a SIGTERM: the termination signals wait until it is whole (mounted and
 * counted, or unmounted), then take their default action. */
static int for_each_name(struct engine *en, struct cli_args *a, const char *what, name_op op,
			 const struct integ_mount_opts *o)
{
	struct integration *ig;
	struct err e = ERR_INIT;

	if (a->n_args == 0) {
		fprintf(stderr, "rexray: %s: give at least one volume name\n", what);
		return 2;
	}
	if (engine_integration(en, &ig, &e) < 0) {
		cli_error(what, &e);
		return 1;
	}
	for (int i = 0; i < a->n_args; i++) {
		int r;
		cli_term_signals_mask(SIG_BLOCK);
		r = op(ig, a->args[i], o, &e);
		cli_term_signals_mask(SIG_UNBLOCK);
		if (r < 0) {
			cli_error(what, &e);
			return 1;
		}
	}
	return 0;
}

static int cmd_mount(struct engine *en, struct cli_args *a)
{
	struct integ_mount_opts o = { .overwrite_fs = a->overwrite_fs, .new_fs_type = a->fs_type };

	return for_each_name(en, a, "volume mount", op_mount, &o);
}

static int cmd_unmount(struct engine *en, struct cli_args *a)
{
	return for_each_name(en, a, "volume unmount", op_unmount, NULL);
}

/* One volume done: kept for the listing (r == 0), or the command fails
 * with e. Returns the exit status so far. */
static int collect(const char *what, int r, struct volume *v, struct volume_list *done,
		   const struct err *e)
{
	if (r < 0) {
		cli_error(what, e);
		return 1;
	}
	volume_list_push(done, v);
	volume_release(v);
	return 0;
}

/* The volumes a command changed, also after a later one failed. */
static void print_done(struct volume_list *done, enum out_format f, bool quiet)
{
	if (done->n)
		cli_print_volumes(done, NULL, f, quiet);
	volume_list_release(done);
}

/* --size and --iops, checked before anything is created: a usage error. */
static int create_flags(const char *sub, struct cli_args *a, int64_t *size, bool *has_size,
			int64_t *iops, bool *has_iops, struct err *e)
{
	bool rounded;
	int r;

	*has_size = false;
	if (a->size) {
		if ((r = size_parse_gib("--size", a->size, 1LL << 20, size, &rounded, e)) < 0)
			return r;
		*has_size = true;
		if (rounded)
			fprintf(stderr, "rexray: %s: --size %s is rounded up to %lld GiB\n", sub,
				a->size, (long long)*size);
	}
	return parse_num("iops", a->iops, 1LL << 31, has_iops, iops, e);
}

/* volume create: the integration's request (so create.default.* apply, as
 * at a mount), with the flags over it; names checked first. */
static int cmd_create(struct engine *en, struct cli_args *a, enum out_format f)
{
	struct volume_list done = { 0 };
	struct ls_ctx ctx = engine_ctx(en);
	struct integration *ig;
	struct snapshot snap = { 0 };
	struct err e = ERR_INIT;
	int64_t size = 0, iops = 0;
	bool has_size, has_iops;
	int rc = 0;

	if (a->n_args == 0) {
		fprintf(stderr, "rexray: volume create: give at least one volume name\n");
		return 2;
	}
	if (create_flags("volume create", a, &size, &has_size, &iops, &has_iops, &e) < 0) {
		cli_error("volume create", &e);
		return 2;
	}
	for (int i = 0; i < a->n_args; i++) {
		if (volume_name_check(a->args[i], &e) < 0) {
			cli_error("volume create", &e);
			return 2;
		}
	}
	if (a->snapshot_id && !*a->snapshot_id) {
		fprintf(stderr, "rexray: volume create: --snapshotID: give a snapshot ID (or "
			"leave the flag out)\n");
		return 2;
	}
	if (engine_integration(en, &ig, &e) < 0 ||
	    (a->snapshot_id && cli_find_snapshot(en, a->snapshot_id, &snap, &e) < 0)) {
		cli_error("volume create", &e);
		return 1;
	}
	for (int i = 0; rc == 0 && i < a->n_args; i++) {
		struct volume_create_req req;
		struct volume v = { 0 };
		int r = integ_build_create(ig, a->args[i], NULL, &req, &e);

		/* from a snapshot: its size unless --size (create.default.size
		 * would make every clone that size, or refuse a bigger one) */
		if (r == 0 && snap.id)
			req.has_size = false;
		if (r == 0) {
			if (has_size) {
				req.has_size = true;
				req.size = size;
			}
			if (has_iops) {
				req.has_iops = true;
				req.iops = iops;
			}
			if (a->volume_type) {
				free(req.type);
				req.type = strdup(a->volume_type);
			}
			if (a->availability_zone) {
				free(req.availability_zone);
				req.availability_zone = strdup(a->availability_zone);
			}
			if (snap.id)
				r = cl(en)->ops->snapshot_create_volume(cl(en), en->service,
									snap.id, &req, &ctx, &v,
									&e);
			else
				r = cl(en)->ops->volume_create(cl(en), en->service, &req, &ctx,
							       &v, &e);
			volume_create_req_release(&req);
		}
		rc = collect("volume create", r, &v, &done, &e);
	}
	snapshot_release(&snap);
	print_done(&done, f, a->quiet);
	return rc;
}

static int cmd_rm(struct engine *en, struct cli_args *a)
{
	struct volume_list sel = { 0 };
	struct ls_ctx ctx = engine_ctx(en);
	struct err e = ERR_INIT;
	int rc = 0;

	if (a->n_args == 0) {
		fprintf(stderr, "rexray: volume rm: give at least one volume\n");
		return 2;
	}
	if (select_volumes(en, 0, a, &sel, false, MATCH_EXACT, &e) < 0) {
		cli_error("volume rm", &e);
		return 1;
	}
	for (size_t i = 0; i < sel.n; i++) {
		if (cl(en)->ops->volume_remove(cl(en), en->service, sel.v[i].id, a->force, &ctx,
					       &e) < 0) {
			cli_error("volume rm", &e);
			rc = 1;
			break;
		}
		printf("%s\n", sel.v[i].name);
	}
	volume_list_release(&sel);
	return rc;
}

static int cmd_attach_detach(struct engine *en, struct cli_args *a, enum out_format f,
			     bool attach)
{
	const char *what = attach ? "volume attach" : "volume detach";
	struct volume_list sel = { 0 }, done = { 0 };
	struct ls_ctx ctx = engine_ctx(en);
	struct err e = ERR_INIT;
	int rc = 0;

	if (a->n_args == 0) {
		fprintf(stderr, "rexray: %s: give at least one volume\n", what);
		return 2;
	}
	if (select_volumes(en, ATT_REQUESTED, a, &sel, false,
			   attach ? MATCH_PREFIX : MATCH_EXACT, &e) < 0) {
		cli_error(what, &e);
		return 1;
	}
	for (size_t i = 0; i < sel.n; i++) {
		struct volume v = { 0 };
		int r;
		if (attach && sel.v[i].attachment_state == AS_ATTACHED && !a->force) {
			volume_list_push(&done, &sel.v[i]);
			continue; /* REX-Ray skips volumes already attached here */
		}
		if (attach) {
			struct volume_attach_req req = { .force = a->force };
			r = cl(en)->ops->volume_attach(cl(en), en->service, sel.v[i].id, &req, &ctx,
						       &v, NULL, &e);
		} else {
			/* through the host workflow: a volume mounted here is not
			 * detached under its users (integ_detach) */
			struct integration *ig;
			r = engine_integration(en, &ig, &e);
			cli_term_signals_mask(SIG_BLOCK);
			if (r == 0)
				r = integ_detach(ig, sel.v[i].name, a->force, &v, &e);
			cli_term_signals_mask(SIG_UNBLOCK);
		}
		if ((rc = collect(what, r, &v, &done, &e)) != 0)
			break;
	}
	print_done(&done, f, a->quiet);
	volume_list_release(&sel);
	return rc;
}

/* volume copy SOURCE NEWNAME: the new volume, made from the source's
 * data (as it was at one instant: the driver freezes a mounted one). */
static int cmd_copy(struct engine *en, struct cli_args *a, enum out_format f)
{
	struct volume_list done = { 0 };
	struct ls_ctx ctx = engine_ctx(en);
	struct volume src, v = { 0 };
	struct err e = ERR_INIT;
	int r, rc;

	if (a->n_args != 2) {
		fprintf(stderr, "rexray: volume copy: give the source volume and the new "
			"volume's name: rexray volume copy SOURCE NEWNAME\n");
		return 2;
	}
	if (volume_name_check(a->args[1], &e) < 0) {
		cli_error("volume copy", &e);
		return 2;
	}
	if (cli_find_volume(en, a->args[0], false, &src, &e) < 0) {
		cli_error("volume copy", &e);
		return 1;
	}
	{
		struct volume_copy_req req = { .volume_name = (char *)a->args[1] };
		r = cl(en)->ops->volume_copy(cl(en), en->service, src.id, &req, &ctx, &v, &e);
	}
	volume_release(&src);
	rc = collect("volume copy", r, &v, &done, &e);
	print_done(&done, f, a->quiet);
	return rc;
}

/* volume resize VOLUME --size N: grow it (the server refuses a shrink). */
static int cmd_resize(struct engine *en, struct cli_args *a, enum out_format f)
{
	struct volume_list done = { 0 };
	struct ls_ctx ctx = engine_ctx(en);
	struct volume cur, v = { 0 };
	struct err e = ERR_INIT;
	int64_t size;
	bool rounded;
	int r, rc;

	if (a->n_args != 1 || !a->size) {
		fprintf(stderr, "rexray: volume resize: give one volume and its new size: rexray "
			"volume resize VOLUME --size SIZE\n");
		return 2;
	}
	if (size_parse_gib("--size", a->size, 1LL << 20, &size, &rounded, &e) < 0) {
		cli_error("volume resize", &e);
		return 2;
	}
	if (rounded)
		fprintf(stderr, "rexray: volume resize: --size %s is rounded up to %lld GiB\n",
			a->size, (long long)size);
	if (cli_find_volume(en, a->args[0], false, &cur, &e) < 0) {
		cli_error("volume resize", &e);
		return 1;
	}
	{
		struct volume_resize_req req = { .size = size };
		cli_term_signals_mask(SIG_BLOCK);
		r = cl(en)->ops->volume_resize(cl(en), en->service, cur.id, &req, &ctx, &v, &e);
		cli_term_signals_mask(SIG_UNBLOCK);
	}
	if (r == 0 && v.size == cur.size)
		fprintf(stderr, "rexray: volume resize: '%s' is %lld GiB already\n", cur.name,
			(long long)v.size);
	volume_release(&cur);
	/* the listing's view, with its status on this host */
	if (r == 0) {
		struct err ignored = ERR_INIT;
		if (cli_find_volume(en, v.id, false, &cur, &ignored) == 0) {
			volume_release(&v);
			v = cur;
		}
	}
	rc = collect("volume resize", r, &v, &done, &e);
	print_done(&done, f, a->quiet);
	return rc;
}

/* ---- inspect ---- */

static void iso_time(int64_t t, char *buf, size_t sz)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(buf, sz, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, sz, "unknown");
}

static json_t *description_json(const struct integ_description *d)
{
	json_t *j = volume_to_json(&d->v), *uses = json_object();
	char when[32];

	if (!j || !uses) {
		json_decref(j);
		json_decref(uses);
		return NULL;
	}
	for (size_t i = 0; i < d->n_uses; i++)
		json_object_set_new(uses, d->uses[i].caller, json_integer(d->uses[i].count));
	iso_time(d->v.created_at, when, sizeof(when));
	json_object_set_new(j, "path", json_string(d->path ? d->path : ""));
	json_object_set_new(j, "device", d->device ? json_string(d->device) : json_null());
	json_object_set_new(j, "storage", d->storage ? json_string(d->storage) : json_null());
	json_object_set_new(j, "fsType", json_string(d->fstype));
	json_object_set_new(j, "uses", uses);
	json_object_set_new(j, "usesTotal", json_integer(d->total_uses));
	json_object_set_new(j, "createdAt", json_string(when));
	return j;
}

static void print_description(const struct integ_description *d, const char *service)
{
	char when[32];

	iso_time(d->v.created_at, when, sizeof(when));
	printf("Name:         %s\n", d->v.name);
	printf("ID:           %s\n", d->v.id);
	printf("Service:      %s\n", service);
	printf("Size:         %lld GiB\n", (long long)d->v.size);
	if (d->v.type && *d->v.type)
		printf("Type:         %s\n", d->v.type);
	printf("Status:       %s\n", cli_state_name(d->v.attachment_state));
	for (size_t i = 0; i < d->v.n_attachments; i++)
		printf("Attached to:  %s (device %s)\n",
		       d->v.attachments[i].iid.id ? d->v.attachments[i].iid.id : "?",
		       d->v.attachments[i].device_name ? d->v.attachments[i].device_name : "?");
	printf("Filesystem:   %s\n", *d->fstype ? d->fstype : "none yet (made at first mount)");
	printf("Storage:      %s\n", d->storage ? d->storage : "unknown");
	printf("Device here:  %s\n", d->device ? d->device : "none");
	printf("Mounted at:   %s\n", d->path && *d->path ? d->path : "not mounted on this host");
	printf("Uses here:    %lld", (long long)d->total_uses);
	for (size_t i = 0; i < d->n_uses; i++)
		printf("%s%s %lld", i ? ", " : " (", *d->uses[i].caller ? d->uses[i].caller : "cli",
		       (long long)d->uses[i].count);
	printf("%s\n", d->n_uses ? ")" : "");
	printf("Created:      %s\n", when);
}

static int cmd_inspect(struct engine *en, struct cli_args *a, enum out_format f)
{
	struct volume_list sel = { 0 };
	struct integration *ig;
	struct err e = ERR_INIT;
	json_t *arr = json_array();
	int rc = 0;

	/* no argument: every volume (REX-Ray's inspect listed them all) */
	if (!arr || engine_integration(en, &ig, &e) < 0 ||
	    select_volumes(en, ATT_REQUESTED, a, &sel, true, MATCH_PREFIX, &e) < 0) {
		cli_error("volume inspect", &e);
		json_decref(arr);
		return 1;
	}
	for (size_t i = 0; rc == 0 && i < sel.n; i++) {
		struct integ_description d;

		if (integ_describe(ig, sel.v[i].name, true, &d, &e) < 0) {
			cli_error("volume inspect", &e);
			rc = 1;
			break;
		}
		if (f == OUT_TMPL)
			print_description(&d, en->service);
		else
			json_array_append_new(arr, description_json(&d));
		if (f == OUT_TMPL && i + 1 < sel.n)
			printf("\n");
		integ_description_release(&d);
	}
	if (rc == 0 && f != OUT_TMPL) {
		char *text = f == OUT_JSONP ? json_dump_pretty(arr) : json_dump_compact(arr);
		if (text)
			printf("%s\n", text);
		free(text);
	}
	json_decref(arr);
	volume_list_release(&sel);
	return rc;
}


int cli_volume(struct engine *en, const char *sub, struct cli_args *a)
{
	static const char *const ls[] = { "ls", "l", "list", "get", NULL };
	static const char *const create[] = { "create", "c", "n", "new", NULL };
	static const char *const rm[] = { "rm", "r", "remove", "delete", "del", NULL };
	static const char *const attach[] = { "attach", "a", NULL };
	static const char *const detach[] = { "detach", "d", NULL };
	static const char *const mount[] = { "mount", "m", NULL };
	static const char *const unmount[] = { "unmount", "u", "umount", NULL };
	enum out_format f;

	if (cli_parse_format(a->format, &f) < 0)
		return 2;
	if (!sub || cli_is_one_of(sub, ls))
		return cmd_ls(en, a, f);
	if (strcmp(sub, "inspect") == 0)
		return cmd_inspect(en, a, f);
	if (cli_is_one_of(sub, create))
		return cmd_create(en, a, f);
	if (cli_is_one_of(sub, rm))
		return cmd_rm(en, a);
	if (cli_is_one_of(sub, attach))
		return cmd_attach_detach(en, a, f, true);
	if (cli_is_one_of(sub, detach))
		return cmd_attach_detach(en, a, f, false);
	if (cli_is_one_of(sub, mount))
		return cmd_mount(en, a);
	if (cli_is_one_of(sub, unmount))
		return cmd_unmount(en, a);
	if (strcmp(sub, "copy") == 0)
		return cmd_copy(en, a, f);
	if (strcmp(sub, "resize") == 0)
		return cmd_resize(en, a, f);
	return cli_unknown("volume", sub, cli_subcommands("volume"));
}
