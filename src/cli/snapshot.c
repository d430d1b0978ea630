/*
 * snapshot: `rexray snapshot ls|create|rm|copy` (REX-Ray's snapshot
 * commands, spec/rexray.md section 1) on the configured service.
 *
 * A SNAPSHOT argument is a snapshot ID or name. ls matches as volume ls
 * does (exact, any case, unique prefix); create, rm and copy take an exact
 * ID, or a name only one snapshot has. Every operation finishes before the
 * command returns: --runasync is accepted for REX-Ray's scripts and means
 * nothing more.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/codec.h"
#include "api/jsonw.h"
#include "cli/cli.h"
#include "cli/help.h"
#include "util/names.h"

static struct storage_client *cl(struct engine *en)
{
	return en->client;
}

static int list(struct engine *en, struct snapshot_list *out, struct err *e)
{
	struct ls_ctx ctx = engine_ctx(en);

	return cl(en)->ops->snapshots(cl(en), en->service, &ctx, out, e);
}

/*
 * The snapshot arg names in l: by ID, then by name; exact, then (loose)
 * ignoring case, then a unique prefix. Returns its index, -ENOENT, or
 * -EEXIST when a name or prefix fits more than one.
 */
static int match(const struct snapshot_list *l, const char *arg, bool loose)
{
	size_t alen = strlen(arg);

	for (int pass = 0; pass < (loose ? 4 : 1); pass++) {
		for (int field = 0; field < 2; field++) {
			int found = -1, count = 0;
			for (size_t i = 0; i < l->n; i++) {
				const char *s = field == 0 ? l->v[i].id : l->v[i].name;
				bool hit;
				if (!s)
					continue;
				if (pass == 0)
					hit = strcmp(s, arg) == 0;
				else if (pass == 1)
					hit = strcasecmp(s, arg) == 0;
				else if (pass == 2)
					hit = strncmp(s, arg, alen) == 0;
				else
					hit = strncasecmp(s, arg, alen) == 0;
				if (hit) {
					found = (int)i;
					count++;
				}
			}
			if (count == 1)
				return found;
			if (count > 1 && (field == 1 || pass >= 2))
				return -EEXIST;
		}
	}
	return -ENOENT;
}

/* Copy the snapshot arg names into *out (released by the caller). */
static int find(const struct snapshot_list *l, const char *arg, bool loose, struct snapshot *out,
		struct err *e)
{
	int k = match(l, arg, loose);

	if (k == -EEXIST)
		return err_set(e, -EINVAL, "'%s' names more than one snapshot: give its ID (see "
			       "rexray snapshot ls)", arg);
	if (k < 0)
		return err_set(e, -ENOENT, "no snapshot has the ID or name '%s'", arg);
	if (snapshot_copy(out, &l->v[k]) < 0)
		return err_set(e, -ENOMEM, "out of memory");
	return 0;
}

int cli_find_snapshot(struct engine *en, const char *arg, struct snapshot *out, struct err *e)
{
	struct snapshot_list l = { 0 };
	int r;

	memset(out, 0, sizeof(*out));
	if (!*arg)
		return err_set(e, -EINVAL, "an empty snapshot ID or name");
	if ((r = list(en, &l, e)) == 0)
		r = find(&l, arg, false, out, e);
	snapshot_list_release(&l);
	return r;
}

/* --volumeid VOL: the volume's ID (VOL may be its name); malloc'd in *id. */
static int volume_id_of(struct engine *en, const char *arg, char **id, struct err *e)
{
	struct volume v;
	int r;

	*id = NULL;
	if ((r = cli_find_volume(en, arg, false, &v, e)) < 0)
		return r;
	*id = strdup(v.id);
	volume_release(&v);
	return *id ? 0 : err_set(e, -ENOMEM, "out of memory");
}

static int print_one(struct snapshot *s, enum out_format f, bool quiet)
{
	struct snapshot_list l = { 0 };

	if (snapshot_list_push(&l, s) < 0) {
		fprintf(stderr, "rexray: out of memory\n");
		return 1;
	}
	cli_print_snapshots(&l, f, quiet);
	snapshot_list_release(&l);
	return 0;
}

/* ---- ls ---- */

static int cmd_ls(struct engine *en, struct cli_args *a, enum out_format f)
{
	struct snapshot_list l = { 0 }, sel = { 0 };
	struct err e = ERR_INIT;
	char *vol = NULL;
	int rc = 0;

	if (a->volume_id && volume_id_of(en, a->volume_id, &vol, &e) < 0) {
		cli_error("snapshot ls", &e);
		return 1;
	}
	if (list(en, &l, &e) < 0) {
		cli_error("snapshot ls", &e);
		free(vol);
		return 1;
	}
	/* by volume first, so that a name is matched among its snapshots */
	if (vol) {
		size_t k = 0;
		for (size_t i = 0; i < l.n; i++) {
			if (l.v[i].volume_id && strcmp(l.v[i].volume_id, vol) == 0)
				l.v[k++] = l.v[i];
			else
				snapshot_release(&l.v[i]);
		}
		l.n = k;
	}
	if (a->n_args == 0) {
		sel = l;
		l = (struct snapshot_list){ 0 };
	}
	for (int i = 0; i < a->n_args; i++) {
		struct snapshot s = { 0 };
		if (find(&l, a->args[i], true, &s, &e) < 0 || snapshot_list_push(&sel, &s) < 0) {
			if (e.code == 0)
				err_set(&e, -ENOMEM, "out of memory");
			snapshot_release(&s);
			cli_error("snapshot ls", &e);
			rc = 1;
			break;
		}
	}
	if (rc == 0)
		cli_print_snapshots(&sel, f, a->quiet);
	snapshot_list_release(&sel);
	snapshot_list_release(&l);
	free(vol);
	return rc;
}

/* ---- create ---- */

static int cmd_create(struct engine *en, struct cli_args *a, enum out_format f)
{
	struct ls_ctx ctx = engine_ctx(en);
	struct volume_snapshot_req req = { 0 };
	struct snapshot s = { 0 };
	struct volume v;
	struct err e = ERR_INIT;
	char name[VOLUME_NAME_MAX + 1];
	const char *vol = a->volume_id;
	int r;

	/* REX-Ray takes --volumeid; a lone VOLUME argument is the same */
	if (!vol && a->n_args == 1)
		vol = a->args[0];
	if (!vol || (a->volume_id && a->n_args > 0) || a->n_args > 1) {
		fprintf(stderr, "rexray: snapshot create: give the volume: rexray snapshot create "
			"--volumeid VOLUME [--snapshotname NAME] [--description TEXT]\n");
		return 2;
	}
	if (a->snapshot_name && volume_name_check(a->snapshot_name, &e) < 0) {
		err_prefix(&e, "--snapshotname");
		cli_error("snapshot create", &e);
		return 2;
	}
	if (cli_find_volume(en, vol, false, &v, &e) < 0) {
		cli_error("snapshot create", &e);
		return 1;
	}
	if (a->snapshot_name) {
		snprintf(name, sizeof(name), "%s", a->snapshot_name);
	} else {
		/* <volume name>-<UTC yyyymmddThhmmss>, cut to fit the name rules */
		time_t now = time(NULL);
		struct tm tm;
		char stamp[32];
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
		snprintf(name, sizeof(name), "%.*s-%s",
			 (int)(VOLUME_NAME_MAX - strlen(stamp) - 1), v.name, stamp);
	}
	req.snapshot_name = name;
	req.description = (char *)a->description;
	r = cl(en)->ops->volume_snapshot(cl(en), en->service, v.id, &req, &ctx, &s, &e);
	volume_release(&v);
	if (r < 0) {
		cli_error("snapshot create", &e);
		return 1;
	}
	return print_one(&s, f, a->quiet);
}

/* ---- rm ---- */

static int cmd_rm(struct engine *en, struct cli_args *a)
{
	struct ls_ctx ctx = engine_ctx(en);
	struct snapshot_list l = { 0 };
	struct err e = ERR_INIT;
	int rc = 0;

	if (a->snapshot_id) {
		fprintf(stderr, "rexray: snapshot rm: give the snapshots as arguments: rexray "
			"snapshot rm SNAPSHOT...\n");
		return 2;
	}
	if (a->n_args == 0) {
		fprintf(stderr, "rexray: snapshot rm: give at least one snapshot ID or name\n");
		return 2;
	}
	if (list(en, &l, &e) < 0) {
		cli_error("snapshot rm", &e);
		return 1;
	}
	/* each one on its own: one that fails does not keep the others */
	for (int i = 0; i < a->n_args; i++) {
		struct snapshot s = { 0 };
		err_clear(&e);
		if (find(&l, a->args[i], false, &s, &e) < 0 ||
		    cl(en)->ops->snapshot_remove(cl(en), en->service, s.id, &ctx, &e) < 0) {
			cli_error("snapshot rm", &e);
			rc = 1;
		} else {
			printf("%s\n", s.id);
			fflush(stdout);
		}
		snapshot_release(&s);
	}
	snapshot_list_release(&l);
	return rc;
}

/* ---- copy ---- */

static int cmd_copy(struct engine *en, struct cli_args *a, enum out_format f)
{
	struct ls_ctx ctx = engine_ctx(en);
	struct snapshot_copy_req req = { 0 };
	struct snapshot src, s = { 0 };
	struct err e = ERR_INIT;
	const char *sid = a->snapshot_id, *name = a->dest_snapshot_name;
	int r;

	if (!sid && a->n_args == 1)
		sid = a->args[0];
	if (!sid || (a->snapshot_id && a->n_args > 0) || a->n_args > 1 || !name) {
		fprintf(stderr, "rexray: snapshot copy: give the snapshot and the copy's name: "
			"rexray snapshot copy --snapshotid SNAPSHOT --destinationsnapshotname "
			"NAME\n");
		return 2;
	}
	if (volume_name_check(name, &e) < 0) {
		err_prefix(&e, "--destinationsnapshotname");
		cli_error("snapshot copy", &e);
		return 2;
	}
	/* a local service copies within itself: no other region */
	if (a->dest_region && *a->dest_region && strcasecmp(a->dest_region, en->service) != 0) {
		fprintf(stderr, "rexray: snapshot copy: --destinationregion '%s': service '%s' "
			"copies a snapshot within itself; give '%s' or leave the flag out\n",
			a->dest_region, en->service, en->service);
		return 2;
	}
	if (cli_find_snapshot(en, sid, &src, &e) < 0) {
		cli_error("snapshot copy", &e);
		return 1;
	}
	req.snapshot_name = (char *)name;
	req.destination_id = a->dest_region && *a->dest_region ? (char *)a->dest_region : NULL;
	r = cl(en)->ops->snapshot_copy(cl(en), en->service, src.id, &req, &ctx, &s, &e);
	snapshot_release(&src);
	if (r < 0) {
		cli_error("snapshot copy", &e);
		return 1;
	}
	return print_one(&s, f, a->quiet);
}

int cli_snapshot(struct engine *en, const char *sub, struct cli_args *a)
{
	static const char *const ls[] = { "ls", "get", "list", NULL };
	static const char *const create[] = { "create", "new", NULL };
	static const char *const rm[] = { "rm", "remove", NULL };
	enum out_format f;

	if (cli_parse_format(a->format, &f) < 0)
		return 2;
	if (!sub || cli_is_one_of(sub, ls))
		return cmd_ls(en, a, f);
	if (cli_is_one_of(sub, create))
		return cmd_create(en, a, f);
	if (cli_is_one_of(sub, rm))
		return cmd_rm(en, a);
	if (strcmp(sub, "copy") == 0)
		return cmd_copy(en, a, f);
	return cli_unknown("snapshot", sub, cli_subcommands("snapshot"));
}
