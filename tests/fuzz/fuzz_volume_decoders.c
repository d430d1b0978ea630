/*
 * fuzz_volume_decoders: what the HTTP client does with a server's reply
 * (client/rest.c -> api/codec.h): json_loadb with the client's flags,
 * then volume_from_json (GET /volumes/{svc}/{id}, POST /volumes/{svc}),
 * volume_map_from_json (GET /volumes/{svc}), service_map_from_json
 * (GET /services), service_info_from_json (GET /services/{svc}),
 * attach_reply_from_json (?attach) and error_body_parse (any non-2xx).
 *
 * Input: the raw reply body.
 * Invariants:
 *  - each decoder fails with -EINVAL, a message and its output released,
 *    or succeeds, and then encode(decode(encode(x))) == encode(x);
 *    map decoders give every entry an id / a name;
 *  - error_body_parse always NUL-terminates within msgsz, leaves no
 *    control bytes, and a status >= 0;
 *  - the tree-less writer (api/jsonw.h, volume_write) makes the bytes the
 *    tree's dump makes, in both styles: of the reply itself (jw_json), of
 *    each decoded volume, and of a decoded map whose ids are unique;
 *  - the tree-less decoders (volume_from_text, volume_map_from_text, on
 *    api/jsonr.h) take a text only if the tree's way takes it too, and
 *    then decode the same volumes; what they decline (-EINVAL, a message)
 *    leaves nothing behind.
 */
#include <jansson.h>

#include "api/codec.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet();
	return 0;
}

static void check_failed(int r, const struct err *e)
{
	FUZZ_CHECK(r == -EINVAL);
	FUZZ_CHECK(e->code == r && e->msg[0]);
}

/* x encodes to j1; j1 decodes and encodes to the same JSON again. The
 * text goes through a dump and a parse too, as on the wire. */
#define CHECK_STABLE(type, enc, dec, rel, x)                                          \
	do {                                                                          \
		struct err e2 = ERR_INIT;                                             \
		type y = { 0 };                                                       \
		json_t *j1 = enc(x), *j2, *wire;                                      \
		char *text;                                                           \
		FUZZ_CHECK(j1);                                                       \
		text = json_dump_pretty(j1);                                          \
		FUZZ_CHECK(text);                                                     \
		wire = json_loads(text, 0, NULL);                                     \
		FUZZ_CHECK_MSG(wire, "%s", text);                                     \
		FUZZ_CHECK_MSG(dec(wire, &y, &e2) == 0, "%s: %s", text, e2.msg);     \
		j2 = enc(&y);                                                         \
		FUZZ_CHECK(j2);                                                       \
		FUZZ_CHECK_MSG(json_equal(j1, j2), "not stable: %s", text);           \
		rel(&y);                                                              \
		json_decref(wire);                                                    \
		json_decref(j1);                                                      \
		json_decref(j2);                                                      \
		free(text);                                                           \
	} while (0)

static const int jw_styles[] = { JW_PRETTY | JW_GO_ESCAPES, 0 };

/* The tree's bytes in the writer's style (j is stolen). */
static char *tree_dump(json_t *j, int style)
{
	char *text;

	FUZZ_CHECK(j);
	text = style ? json_dump_pretty(j)
		     : json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	FUZZ_CHECK(text);
	json_decref(j);
	return text;
}

static void check_same(char *tree, struct jw *w)
{
	char *written;

	FUZZ_CHECK(jw_finish(w, &written, NULL) == 0);
	FUZZ_CHECK_MSG(strcmp(tree, written) == 0, "writer:\n%s\ntree:\n%s", written, tree);
	free(tree);
	free(written);
}

static void check_writer_json(const json_t *j)
{
	for (size_t i = 0; i < 2; i++) {
		struct jw w;
		jw_init(&w, jw_styles[i]);
		jw_json(&w, j);
		check_same(tree_dump(json_incref((json_t *)j), jw_styles[i]), &w);
	}
}

static void check_writer_volume(const struct volume *v)
{
	for (size_t i = 0; i < 2; i++) {
		struct jw w;
		jw_init(&w, jw_styles[i]);
		volume_write(&w, v);
		check_same(tree_dump(volume_to_json(v), jw_styles[i]), &w);
	}
}

/* The map as the server's listing writes it; only when the ids are unique
 * (the tree keeps one volume per id, the store never has two). */
static void check_writer_map(const struct volume_list *l)
{
	json_t *tree = volume_map_to_json(l);
	struct jw w;

	FUZZ_CHECK(tree);
	if (json_object_size(tree) != l->n) {
		json_decref(tree);
		return;
	}
	jw_init(&w, JW_PRETTY | JW_GO_ESCAPES);
	jw_obj_begin(&w);
	for (size_t i = 0; i < l->n; i++) {
		jw_key(&w, l->v[i].id);
		volume_write(&w, &l->v[i]);
	}
	jw_obj_end(&w);
	check_same(tree_dump(tree, JW_PRETTY), &w);
}

static bool volume_is_zero(const struct volume *v)
{
	return !v->id && !v->name && !v->type && !v->attachments && !v->n_attachments &&
	       !v->availability_zone && !v->network_name && !v->status && !v->fields;
}

static void check_volume(const json_t *j)
{
	struct err e = ERR_INIT;
	struct volume v;
	int r = volume_from_json(j, &v, &e);

	if (r < 0) {
		check_failed(r, &e);
		FUZZ_CHECK(volume_is_zero(&v));
		return;
	}
	FUZZ_CHECK(v.size >= 0 && v.iops >= 0 && v.attachment_state >= 0);
	FUZZ_CHECK(!v.fields || json_is_object(v.fields));
	FUZZ_CHECK(v.n_attachments == 0 || v.attachments);
	CHECK_STABLE(struct volume, volume_to_json, volume_from_json, volume_release, &v);
	check_writer_volume(&v);
	volume_release(&v);
}

static void check_volume_map(const json_t *j)
{
	struct volume_list l = { 0 };
	struct err e = ERR_INIT;
	int r = volume_map_from_json(j, &l, &e);

	if (r < 0) {
		check_failed(r, &e);
		FUZZ_CHECK(!l.v && l.n == 0);
		return;
	}
	FUZZ_CHECK(l.n == json_object_size(j));
	for (size_t i = 0; i < l.n; i++)
		FUZZ_CHECK(l.v[i].id);
	CHECK_STABLE(struct volume_list, volume_map_to_json, volume_map_from_json,
		     volume_list_release, &l);
	for (size_t i = 0; i < l.n; i++)
		check_writer_volume(&l.v[i]);
	check_writer_map(&l);
	volume_list_release(&l);
}

static void check_service_map(const json_t *j)
{
	struct service_list l = { 0 };
	struct err e = ERR_INIT;
	int r = service_map_from_json(j, &l, &e);

	if (r < 0) {
		check_failed(r, &e);
		FUZZ_CHECK(!l.s && l.n == 0);
		return;
	}
	FUZZ_CHECK(l.n == json_object_size(j));
	for (size_t i = 0; i < l.n; i++)
		FUZZ_CHECK(l.s[i].name);
	CHECK_STABLE(struct service_list, service_map_to_json, service_map_from_json,
		     service_list_release, &l);
	service_list_release(&l);
}

static void check_service(const json_t *j)
{
	struct service_info s;
	struct err e = ERR_INIT;
	int r = service_info_from_json(j, &s, &e);

	if (r < 0) {
		check_failed(r, &e);
		FUZZ_CHECK(!s.name && !s.driver_name && !s.next_device.prefix &&
			   !s.next_device.pattern && !s.instance.name && !s.instance.iid.id);
		return;
	}
	FUZZ_CHECK(s.driver_type == ST_BLOCK || s.driver_type == ST_NAS ||
		   s.driver_type == ST_OBJECT);
	CHECK_STABLE(struct service_info, service_info_to_json, service_info_from_json,
		     service_info_release, &s);
	service_info_release(&s);
}

static json_t *attach_reply_enc(const struct volume *v, const char *token)
{
	return attach_reply_to_json(v, token);
}

static void check_attach_reply(const json_t *j)
{
	struct err e = ERR_INIT, e2 = ERR_INIT;
	struct volume v, v2, v3;
	char *token = (char *)1, *token2 = NULL;
	json_t *j1, *j2;
	int r = attach_reply_from_json(j, &v, &token, &e);

	/* the same without asking for the token */
	FUZZ_CHECK(attach_reply_from_json(j, &v3, NULL, &e2) == r);
	volume_release(&v3);
	if (r < 0) {
		check_failed(r, &e);
		FUZZ_CHECK(volume_is_zero(&v) && !token);
		return;
	}
	j1 = attach_reply_enc(&v, token);
	FUZZ_CHECK(j1);
	FUZZ_CHECK_MSG(attach_reply_from_json(j1, &v2, &token2, &e2) == 0, "%s", e2.msg);
	FUZZ_CHECK(token2);
	j2 = attach_reply_enc(&v2, token2);
	FUZZ_CHECK(j2 && json_equal(j1, j2));
	json_decref(j1);
	json_decref(j2);
	volume_release(&v);
	volume_release(&v2);
	free(token);
	free(token2);
}

static void check_message(const char *msg, size_t msgsz)
{
	size_t len = strnlen(msg, msgsz);

	FUZZ_CHECK(len < msgsz);
	for (size_t i = 0; i < len; i++)
		FUZZ_CHECK((unsigned char)msg[i] >= 0x20 && msg[i] != 0x7f);
}

static void check_error_body(const uint8_t *data, size_t size)
{
	static const size_t sizes[] = { 512, 64, 2, 1 };
	char msg[512];
	int status;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(msg, 'x', sizeof(msg));
		status = -1;
		error_body_parse((const char *)data, size, msg, sizes[i], &status);
		FUZZ_CHECK(status >= 0);
		check_message(msg, sizes[i]);
	}
	error_body_parse((const char *)data, size, msg, sizeof(msg), NULL);
	check_message(msg, sizeof(msg));
	/* msgsz 0 writes nothing */
	msg[0] = 'x';
	error_body_parse((const char *)data, size, msg, 0, &status);
	FUZZ_CHECK(msg[0] == 'x' && status == 0);
}

static void check_same_volume(const struct volume *a, const struct volume *b)
{
	json_t *ja = volume_to_json(a), *jb = volume_to_json(b);

	FUZZ_CHECK(ja && jb);
	FUZZ_CHECK(json_equal(ja, jb));
	FUZZ_CHECK(fuzz_streq(a->id, b->id));
	FUZZ_CHECK(a->attachments_present == b->attachments_present);
	FUZZ_CHECK(!a->fields == !b->fields);
	json_decref(ja);
	json_decref(jb);
}

static void check_quick(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct volume_list q = { 0 }, t = { 0 };
	struct err e = ERR_INIT, e2 = ERR_INIT;
	json_t *j = json_loadb(text, size, 0, NULL); /* the client's flags */
	struct volume v, tv;
	int r;

	r = volume_map_from_text(text, size, &q, &e);
	if (r == 0) {
		FUZZ_CHECK_MSG(j && volume_map_from_json(j, &t, &e2) == 0, "%s", e2.msg);
		FUZZ_CHECK(q.n == t.n);
		for (size_t i = 0; i < q.n; i++)
			check_same_volume(&q.v[i], &t.v[i]);
		volume_list_release(&t);
		volume_list_release(&q);
	} else {
		check_failed(r, &e);
		FUZZ_CHECK(!q.v && q.n == 0);
	}
	e = (struct err)ERR_INIT;
	r = volume_from_text(text, size, &v, &e);
	if (r == 0) {
		FUZZ_CHECK_MSG(j && volume_from_json(j, &tv, &e2) == 0, "%s", e2.msg);
		check_same_volume(&v, &tv);
		volume_release(&tv);
		volume_release(&v);
	} else {
		check_failed(r, &e);
		FUZZ_CHECK(volume_is_zero(&v));
	}
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j;

	check_error_body(data, size);
	check_quick(data, size);
	j = json_loadb((const char *)data, size, 0, NULL);
	if (!j)
		return 0;
	check_writer_json(j);
	check_volume(j);
	check_volume_map(j);
	check_service_map(j);
	check_service(j);
	check_attach_reply(j);
	json_decref(j);
	return 0;
}
