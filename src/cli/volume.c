/*
 * volume: `rexray volume ls|create|rm|attach|detach`.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "integration/integration.h"
#include "util/names.h"

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

	if (a->path)
		mask = ATT_REQUESTED | ATT_MINE | ATT_DEVICES | ATT_ATTACHED;
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

static int op_mount(struct integration *ig, const char *name, const struct integ_mount_opts *o,
		    struct err *e)
{
	char *path = NULL;
	int r = integ_mount(ig, name, NULL, o, &path, e);

	if (r == 0) {
		printf("%s\n", path);
		fflush(stdout);
	}
	free(path);
	return r;
}

static int op_unmount(struct integration *ig, const char *name, const struct integ_mount_opts *o,
		      struct err *e)
{
	int r = integ_unmount(ig, name, NULL, e);

	(void)o;
	if (r == 0)
		printf("%s\n", name);
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

static int cmd_create(struct engine *en, struct cli_args *a, enum out_format f)
{
	struct volume_create_req req = { 0 };
	struct volume_list done = { 0 };
	struct ls_ctx ctx = engine_ctx(en);
	struct err e = ERR_INIT;
	int rc = 0;

	if (a->n_args == 0) {
		fprintf(stderr, "rexray: volume create: give at least one volume name\n");
		return 2;
	}
	if (parse_num("size", a->size, 1LL << 20, &req.has_size, &req.size, &e) < 0 ||
	    parse_num("iops", a->iops, 1LL << 31, &req.has_iops, &req.iops, &e) < 0) {
		cli_error("volume create", &e);
		return 2;
	}
	req.type = (char *)a->volume_type;
	req.availability_zone = (char *)a->availability_zone;
	for (int i = 0; rc == 0 && i < a->n_args; i++) {
		struct volume v = { 0 };
		int r;
		req.name = (char *)a->args[i];
		r = volume_name_check(req.name, &e);
		if (r == 0)
			r = cl(en)->ops->volume_create(cl(en), en->service, &req, &ctx, &v, &e);
		rc = collect("volume create", r, &v, &done, &e);
	}
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

static bool is(const char *s, const char *const *names)
{
	for (; *names; names++)
		if (strcmp(s, *names) == 0)
			return true;
	return false;
}

int cli_volume(struct engine *en, const char *sub, struct cli_args *a)
{
	static const char *const ls[] = { "ls", "l", "list", "get", "inspect", NULL };
	static const char *const create[] = { "create", "c", "n", "new", NULL };
	static const char *const rm[] = { "rm", "r", "remove", "delete", "del", NULL };
	static const char *const attach[] = { "attach", "a", NULL };
	static const char *const detach[] = { "detach", "d", NULL };
	static const char *const mount[] = { "mount", "m", NULL };
	static const char *const unmount[] = { "unmount", "u", "umount", NULL };
	enum out_format f;

	if (cli_parse_format(a->format, &f) < 0) {
		fprintf(stderr, "rexray: --format: invalid value '%s': expected tmpl, json or "
			"jsonp\n", a->format);
		return 2;
	}
	if (!sub || is(sub, ls))
		return cmd_ls(en, a, f);
	if (is(sub, create))
		return cmd_create(en, a, f);
	if (is(sub, rm))
		return cmd_rm(en, a);
	if (is(sub, attach))
		return cmd_attach_detach(en, a, f, true);
	if (is(sub, detach))
		return cmd_attach_detach(en, a, f, false);
	if (is(sub, mount))
		return cmd_mount(en, a);
	if (is(sub, unmount))
		return cmd_unmount(en, a);
	fprintf(stderr, "rexray: volume: unknown command '%s' (ls, create, rm, attach, detach, "
		"mount, unmount)\n",
		sub);
	return 2;
}
