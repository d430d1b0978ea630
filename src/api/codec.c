/*
 * codec: jansson encoders and decoders for the libStorage objects.
 *
 * Encoders build objects member by member in the order Go's encoding/json
 * writes the original structs (field declaration order), and dump with
 * JSON_PRESERVE_ORDER, so the bytes match the recorded server. Maps that
 * Go would sort (fields) are inserted sorted.
 */
#include "api/codec.h"
#include "api/jsonr.h"
#include "api/jsonw.h"
#include "util/names.h"
#include "util/sys.h"
#include "util/jsondump.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers ---- */

static const char *jtype_name(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

json_t *json_parse_text(const char *text, size_t len, size_t flags, json_error_t *jerr)
{
	json_t *j = json_loadb(text, len, flags, jerr);

	return j ? j : json_loadb(text, len, flags, jerr);
}

bool json_load_oom(const json_error_t *jerr)
{
	/* a text error always says what; the parser's own allocations fail
	 * before it can (line -1, no text) or with the out-of-memory code */
	return json_error_code(jerr) == json_error_out_of_memory || !jerr->text[0];
}

static int oom(struct err *e)
{
	return err_set(e, -ENOMEM, "out of memory");
}

/*
 * A JSON string for s (NULL is ""). jansson refuses invalid UTF-8; a
 * driver-provided name must still encode, so each bad byte becomes U+FFFD
 * as Go's encoder does. NULL only on OOM.
 */
static json_t *jstr(const char *s)
{
	json_t *j;
	char *fixed;
	size_t o = 0, len;

	if (!s)
		s = "";
	j = json_string(s);
	if (j)
		return j;
	len = strlen(s);
	fixed = sys_malloc(len * 3 + 1);
	if (!fixed)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = jw_utf8_len((const unsigned char *)s + i, len - i);
		if (n == 0) {
			memcpy(fixed + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(fixed + o, s + i, n);
		o += n;
		i += n;
	}
	fixed[o] = '\0';
	j = json_string(fixed);
	free(fixed);
	return j;
}

/* Set o[k] = v, stealing v; false when v is NULL (OOM) or the set fails. */
static bool oset(json_t *o, const char *k, json_t *v)
{
	return v && json_object_set_new(o, k, v) == 0;
}

/* The object (or array) o when every step building it succeeded, else
 * NULL (o freed): the end of every encoder below. */
static json_t *built(json_t *o, bool ok)
{
	if (ok)
		return o;
	json_decref(o);
	return NULL;
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A copy of a fields object with its keys in sorted order, as Go writes a
 * map[string]string. NULL on OOM. */
static json_t *sorted_copy(const json_t *obj)
{
	size_t n = 0, cap = json_object_size(obj);
	const char **keys;
	const char *k;
	json_t *v, *out = json_object();
	bool ok = out != NULL;

	keys = sys_malloc((cap ? cap : 1) * sizeof(*keys));
	if (!keys || !out) {
		free(keys);
		json_decref(out);
		return NULL;
	}
	json_object_foreach ((json_t *)obj, k, v)
		keys[n++] = k;
	qsort(keys, n, sizeof(*keys), cmp_key);
	for (size_t i = 0; ok && i < n; i++)
		ok = oset(out, keys[i], json_deep_copy(json_object_get(obj, keys[i])));
	free(keys);
	return built(out, ok);
}

static bool has_members(const json_t *o)
{
	return o && json_is_object(o) && json_object_size(o) > 0;
}

static bool nonempty(const char *s)
{
	return s && *s;
}

/* ---- decoding helpers: absent and null both mean "not given" ---- */

static const json_t *member(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return v && !json_is_null(v) ? v : NULL;
}

/* The decoders of one member value v (NULL: absent), named key in errors;
 * dec_x(o, key, ...) looks the member up in o first. */
static int dec_str_v(const json_t *v, const char *key, char **out, struct err *e)
{
	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_string(v))
		return err_set(e, -EINVAL, "field '%s': expected a string, got %s", key,
			       jtype_name(v));
	*out = sys_strdup(json_string_value(v));
	return *out ? 0 : oom(e);
}

static int dec_str(const json_t *o, const char *key, char **out, struct err *e)
{
	return dec_str_v(member(o, key), key, out, e);
}

static int dec_int_v(const json_t *v, const char *key, int64_t max, bool *present, int64_t *out,
		     struct err *e)
{
	json_int_t x;

	if (present)
		*present = false;
	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return err_set(e, -EINVAL, "field '%s': expected an integer, got %s", key,
			       jtype_name(v));
	x = json_integer_value(v);
	if (x < 0)
		return err_set(e, -EINVAL, "field '%s': must not be negative, got %lld", key,
			       (long long)x);
	if (x > max)
		return err_set(e, -EINVAL, "field '%s': %lld is more than the maximum %lld", key,
			       (long long)x, (long long)max);
	*out = x;
	if (present)
		*present = true;
	return 0;
}

static int dec_int(const json_t *o, const char *key, int64_t max, bool *present, int64_t *out,
		   struct err *e)
{
	return dec_int_v(member(o, key), key, max, present, out, e);
}

static int dec_bool_v(const json_t *v, const char *key, bool *present, bool *out, struct err *e)
{
	if (present)
		*present = false;
	*out = false;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return err_set(e, -EINVAL, "field '%s': expected a boolean, got %s", key,
			       jtype_name(v));
	*out = json_is_true(v);
	if (present)
		*present = true;
	return 0;
}

static int dec_bool(const json_t *o, const char *key, bool *present, bool *out, struct err *e)
{
	return dec_bool_v(member(o, key), key, present, out, e);
}

/* An object member; with strings_only every value must be a string
 * (Go's map[string]string). *out gets a deep copy or NULL; a strings-only
 * map (fields) gets a reference to the input's own object instead: a
 * listing decodes thousands, and the callers free the input right after,
 * so a copy would be work and memory for nothing. */
static int dec_obj_v(const json_t *v, const char *key, bool strings_only, json_t **out,
		     struct err *e)
{
	const char *k;
	json_t *x;

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v))
		return err_set(e, -EINVAL, "field '%s': expected an object, got %s", key,
			       jtype_name(v));
	if (strings_only) {
		json_object_foreach ((json_t *)v, k, x) {
			if (!json_is_string(x))
				return err_set(e, -EINVAL,
					       "field '%s': value of '%s' must be a string, got %s",
					       key, k, jtype_name(x));
		}
		*out = json_incref((json_t *)v);
		return 0;
	}
	*out = json_deep_copy(v);
	return *out ? 0 : oom(e);
}

static int dec_obj(const json_t *o, const char *key, bool strings_only, json_t **out, struct err *e)
{
	return dec_obj_v(member(o, key), key, strings_only, out, e);
}

static int expect_object(const json_t *j, const char *what, struct err *e)
{
	if (!j || !json_is_object(j))
		return err_set(e, -EINVAL, "%s: expected an object, got %s", what,
			       j ? jtype_name(j) : "nothing");
	return 0;
}

/* ---- InstanceID: id, driver, service, fields?, metadata? ---- */

json_t *instance_id_to_json(const struct instance_id *iid)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	ok = ok && oset(o, "id", jstr(iid->id));
	ok = ok && oset(o, "driver", jstr(iid->driver));
	ok = ok && oset(o, "service", jstr(iid->service));
	if (ok && has_members(iid->fields))
		ok = oset(o, "fields", sorted_copy(iid->fields));
	if (ok && nonempty(iid->metadata)) {
		/* raw JSON; text that is not JSON (never from our parser) is dropped */
		json_t *m = json_loads(iid->metadata, JSON_DECODE_ANY, NULL);
		if (m)
			ok = oset(o, "metadata", m);
	}
	return built(o, ok);
}

static int iid_dec(const json_t *j, struct instance_id *out, struct err *e)
{
	const json_t *m;
	int r;

	r = expect_object(j, "instance ID", e);
	if (r == 0)
		r = dec_str(j, "id", &out->id, e);
	if (r == 0)
		r = dec_str(j, "driver", &out->driver, e);
	if (r == 0)
		r = dec_str(j, "service", &out->service, e);
	if (r == 0)
		r = dec_obj(j, "fields", true, &out->fields, e);
	if (r < 0)
		return r;
	m = member(j, "metadata");
	if (m) {
		out->metadata = json_text(m, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
		if (!out->metadata)
			return oom(e);
	}
	return 0;
}

int instance_id_from_json(const json_t *j, struct instance_id *out, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = iid_dec(j, out, e);
	if (r < 0)
		instance_id_release(out);
	return r;
}

/* Decode member key of j as an instance ID, prefixing errors with key. */
static int iid_member(const json_t *j, const char *key, struct instance_id *out, struct err *e)
{
	const json_t *v = member(j, key);
	int r;

	memset(out, 0, sizeof(*out));
	if (!v)
		return 0;
	r = instance_id_from_json(v, out, e);
	if (r < 0)
		err_prefix(e, "%s", key);
	return r;
}

/* ---- Instance: instanceID, name?, providerName, region?, fields? ---- */

json_t *instance_to_json(const struct instance *in)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	ok = ok && oset(o, "instanceID", instance_id_to_json(&in->iid));
	if (ok && nonempty(in->name))
		ok = oset(o, "name", jstr(in->name));
	ok = ok && oset(o, "providerName", jstr(in->provider_name));
	if (ok && nonempty(in->region))
		ok = oset(o, "region", jstr(in->region));
	if (ok && has_members(in->fields))
		ok = oset(o, "fields", sorted_copy(in->fields));
	return built(o, ok);
}

int instance_from_json(const json_t *j, struct instance *out, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = expect_object(j, "instance", e);
	if (r == 0)
		r = iid_member(j, "instanceID", &out->iid, e);
	if (r == 0)
		r = dec_str(j, "name", &out->name, e);
	if (r == 0)
		r = dec_str(j, "providerName", &out->provider_name, e);
	if (r == 0)
		r = dec_str(j, "region", &out->region, e);
	if (r == 0)
		r = dec_obj(j, "fields", true, &out->fields, e);
	if (r < 0)
		instance_release(out);
	return r;
}

/* ---- VolumeAttachment: deviceName, mountPoint?, instanceID, status, volumeID, fields? ---- */

static int attachment_dec(const json_t *j, struct volume_attachment *out, struct err *e)
{
	int r;

	r = expect_object(j, "attachment", e);
	if (r == 0)
		r = dec_str(j, "deviceName", &out->device_name, e);
	if (r == 0)
		r = dec_str(j, "mountPoint", &out->mount_point, e);
	if (r == 0)
		r = iid_member(j, "instanceID", &out->iid, e);
	if (r == 0)
		r = dec_str(j, "status", &out->status, e);
	if (r == 0)
		r = dec_str(j, "volumeID", &out->volume_id, e);
	if (r == 0)
		r = dec_obj(j, "fields", true, &out->fields, e);
	return r;
}

/* ---- Volume ---- */

/*
 * ---- Volume: one encoder, into a jsonw buffer ----
 *
 * Go's declaration order of types.Volume: attachments, attachmentState,
 * availabilityZone, encrypted, iops, name, networkName, size, status, id,
 * type, fields. The trace shows the common subset (attachments,
 * attachmentState, name, size, id, type, fields) in this order.
 *
 * A listing is written straight into the reply (no tree); volume_to_json
 * reads the same bytes back, so there is one encoder to keep right.
 */

struct kv {
	const char *k;
	size_t klen;
	const json_t *v;
};

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

/* An object with its keys sorted, as sorted_copy orders a fields map. */
static void write_sorted(struct jw *w, const json_t *obj)
{
	struct kv small[16], *kv = small;
	size_t n = 0, cap = json_object_size(obj);
	const char *k;
	size_t klen;
	json_t *v;

	if (cap > sizeof(small) / sizeof(small[0])) {
		kv = sys_malloc(cap * sizeof(*kv));
		if (!kv) {
			w->oom = true;
			return;
		}
	}
	json_object_keylen_foreach ((json_t *)obj, k, klen, v) {
		if (n < cap)
			kv[n++] = (struct kv){ k, klen, v };
	}
	qsort(kv, n, sizeof(*kv), cmp_kv);
	jw_obj_begin(w);
	for (size_t i = 0; i < n; i++) {
		jw_keyn(w, kv[i].k, kv[i].klen);
		jw_json(w, kv[i].v);
	}
	jw_obj_end(w);
	if (kv != small)
		free(kv);
}

static void write_str_member(struct jw *w, const char *key, const char *s)
{
	jw_key(w, key);
	jw_str(w, s);
}

static void write_iid(struct jw *w, const struct instance_id *iid)
{
	jw_obj_begin(w);
	write_str_member(w, "id", iid->id);
	write_str_member(w, "driver", iid->driver);
	write_str_member(w, "service", iid->service);
	if (has_members(iid->fields)) {
		jw_key(w, "fields");
		write_sorted(w, iid->fields);
	}
	if (nonempty(iid->metadata)) {
		/* raw JSON, dropped when it is not JSON, as instance_id_to_json does */
		json_t *m = json_loads(iid->metadata, JSON_DECODE_ANY, NULL);
		if (m) {
			jw_key(w, "metadata");
			jw_json(w, m);
			json_decref(m);
		}
	}
	jw_obj_end(w);
}

static void write_attachment(struct jw *w, const struct volume_attachment *a)
{
	jw_obj_begin(w);
	write_str_member(w, "deviceName", a->device_name);
	if (nonempty(a->mount_point))
		write_str_member(w, "mountPoint", a->mount_point);
	jw_key(w, "instanceID");
	write_iid(w, &a->iid);
	write_str_member(w, "status", a->status);
	write_str_member(w, "volumeID", a->volume_id);
	if (has_members(a->fields)) {
		jw_key(w, "fields");
		write_sorted(w, a->fields);
	}
	jw_obj_end(w);
}

static void write_int_member(struct jw *w, const char *key, long long v)
{
	jw_key(w, key);
	jw_int(w, v);
}

void volume_write_members(struct jw *w, const struct volume *v)
{
	if (v->n_attachments || v->attachments_present) {
		jw_key(w, "attachments");
		jw_arr_begin(w);
		for (size_t i = 0; i < v->n_attachments; i++) {
			jw_item(w);
			write_attachment(w, &v->attachments[i]);
		}
		jw_arr_end(w);
	}
	if (v->attachment_state)
		write_int_member(w, "attachmentState", v->attachment_state);
	if (nonempty(v->availability_zone))
		write_str_member(w, "availabilityZone", v->availability_zone);
	if (v->encrypted) {
		jw_key(w, "encrypted");
		jw_bool(w, true);
	}
	if (v->iops)
		write_int_member(w, "iops", v->iops);
	write_str_member(w, "name", v->name);
	if (nonempty(v->network_name))
		write_str_member(w, "networkName", v->network_name);
	if (v->size)
		write_int_member(w, "size", v->size);
	if (nonempty(v->status))
		write_str_member(w, "status", v->status);
	write_str_member(w, "id", v->id);
	write_str_member(w, "type", v->type);
	if (has_members(v->fields)) {
		jw_key(w, "fields");
		write_sorted(w, v->fields);
	}
}

void volume_write(struct jw *w, const struct volume *v)
{
	jw_obj_begin(w);
	volume_write_members(w, v);
	jw_obj_end(w);
}

json_t *volume_to_json(const struct volume *v)
{
	struct jw w;
	char *text = NULL;
	size_t len = 0;
	json_t *j;

	jw_init(&w, 0);
	volume_write(&w, v);
	if (jw_finish(&w, &text, &len) < 0)
		return NULL;
	/* fields may hold strings with NUL, as the decoder accepted them */
	j = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
	free(text);
	return j;
}

static int attachments_dec(const json_t *a, struct volume *out, struct err *e)
{
	size_t n;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return err_set(e, -EINVAL, "field 'attachments': expected an array, got %s",
			       jtype_name(a));
	out->attachments_present = true;
	n = json_array_size(a);
	if (n == 0)
		return 0;
	out->attachments = sys_calloc(n, sizeof(*out->attachments));
	if (!out->attachments)
		return oom(e);
	for (size_t i = 0; i < n; i++) {
		/* count it first so a partly filled entry is released too */
		out->n_attachments = i + 1;
		if (attachment_dec(json_array_get(a, i), &out->attachments[i], e) < 0)
			return err_prefix(e, "attachments[%zu]", i);
	}
	return 0;
}

/* The members of types.Volume in Go's order; decoding follows it, so the
 * first bad member reported is the same wherever it stands in the text. */
enum volume_member {
	VM_ATTACHMENTS, VM_STATE, VM_AZ, VM_ENCRYPTED, VM_IOPS, VM_NAME, VM_NETWORK, VM_SIZE,
	VM_STATUS, VM_ID, VM_TYPE, VM_FIELDS, VM_COUNT
};

/* A member's name, for matching names read from a text. */
struct qkey {
	const char *name;
	size_t len;
};
#define QK(s) { s, sizeof(s) - 1 }

static const struct qkey volume_keys[VM_COUNT] = {
	QK("attachments"), QK("attachmentState"), QK("availabilityZone"), QK("encrypted"),
	QK("iops"), QK("name"), QK("networkName"), QK("size"), QK("status"), QK("id"), QK("type"),
	QK("fields"),
};

/* A Volume's members in one pass over the object, rather than a hash
 * look-up for each of the twelve (a listing decodes thousands); null is
 * absent, as member() has it. */
static void volume_members(const json_t *j, const json_t *m[VM_COUNT])
{
	const char *k;
	size_t klen;
	json_t *v;

	for (int i = 0; i < VM_COUNT; i++)
		m[i] = NULL;
	json_object_keylen_foreach ((json_t *)j, k, klen, v) {
		for (int i = 0; i < VM_COUNT; i++) {
			if (klen == volume_keys[i].len && memcmp(k, volume_keys[i].name, klen) == 0) {
				m[i] = json_is_null(v) ? NULL : v;
				break;
			}
		}
	}
}

static int volume_dec(const json_t *j, struct volume *out, struct err *e)
{
	const json_t *m[VM_COUNT];
	int64_t state = 0;
	int r;

	if ((r = expect_object(j, "volume", e)) < 0)
		return r;
	volume_members(j, m);
	r = attachments_dec(m[VM_ATTACHMENTS], out, e);
	if (r == 0)
		r = dec_int_v(m[VM_STATE], "attachmentState", INT_MAX, NULL, &state, e);
	out->attachment_state = (int)state;
	if (r == 0)
		r = dec_str_v(m[VM_AZ], "availabilityZone", &out->availability_zone, e);
	if (r == 0)
		r = dec_bool_v(m[VM_ENCRYPTED], "encrypted", NULL, &out->encrypted, e);
	if (r == 0)
		r = dec_int_v(m[VM_IOPS], "iops", INT64_MAX, NULL, &out->iops, e);
	if (r == 0)
		r = dec_str_v(m[VM_NAME], "name", &out->name, e);
	if (r == 0)
		r = dec_str_v(m[VM_NETWORK], "networkName", &out->network_name, e);
	if (r == 0)
		r = dec_int_v(m[VM_SIZE], "size", INT64_MAX, NULL, &out->size, e);
	if (r == 0)
		r = dec_str_v(m[VM_STATUS], "status", &out->status, e);
	if (r == 0)
		r = dec_str_v(m[VM_ID], "id", &out->id, e);
	if (r == 0)
		r = dec_str_v(m[VM_TYPE], "type", &out->type, e);
	if (r == 0)
		r = dec_obj_v(m[VM_FIELDS], "fields", true, &out->fields, e);
	return r;
}

int volume_from_json(const json_t *j, struct volume *out, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = volume_dec(j, out, e);
	if (r < 0)
		volume_release(out);
	return r;
}

/* ---- Volume and the volume map without a tree (api/jsonr.h) ----
 *
 * The rules of volume_dec and volume_map_entry, read straight from the
 * text: a listing of 10,000 volumes costs the CLI a fifth of the time of
 * jansson's tree. They take only what they decode exactly as the tree
 * would; anything else declines (-EINVAL, e says why): an error of any
 * kind, a member given twice (jansson keeps the last value in the first
 * one's place), map keys not in ascending byte order (both servers write
 * them sorted; in order no key can repeat). The caller then decodes the
 * text the tree's way, which also words any error exactly as before.
 */

static int q_oom(struct jr *r)
{
	if (!r->err.code)
		err_set(&r->err, -ENOMEM, "out of memory");
	return r->err.code;
}

static int q_index(const struct qkey *keys, int n, const char *k, size_t kl)
{
	for (int i = 0; i < n; i++)
		if (kl == keys[i].len && memcmp(k, keys[i].name, kl) == 0)
			return i;
	return -1;
}

/* Member i of an object seen: a second time declines. */
static int q_once(struct jr *r, unsigned *seen, int i, const struct qkey *keys)
{
	if (*seen & (1u << i))
		return jr_fail(r, "member '%s' given twice", keys[i].name);
	*seen |= 1u << i;
	return 0;
}

/* null is absent, as member() has it */
static int q_str(struct jr *r, const char *key, char **out)
{
	switch (jr_peek(r)) {
	case JR_NULL:
		return jr_null(r);
	case JR_STRING:
		return jr_str_dup(r, out, NULL);
	default:
		return jr_fail(r, "field '%s': expected a string", key);
	}
}

static int q_int(struct jr *r, const char *key, int64_t max, int64_t *out)
{
	long long x;
	int rc;

	switch (jr_peek(r)) {
	case JR_NULL:
		return jr_null(r);
	case JR_INTEGER:
		if ((rc = jr_int(r, &x)) < 0)
			return rc;
		if (x < 0 || x > max)
			return jr_fail(r, "field '%s': %lld is out of range", key, x);
		*out = x;
		return 0;
	default:
		return jr_fail(r, "field '%s': expected an integer", key);
	}
}

static int q_bool(struct jr *r, const char *key, bool *out)
{
	switch (jr_peek(r)) {
	case JR_NULL:
		return jr_null(r);
	case JR_TRUE:
	case JR_FALSE:
		return jr_bool(r, out);
	default:
		return jr_fail(r, "field '%s': expected a boolean", key);
	}
}

/* A map of strings (fields), built as jansson's parser builds it. */
static int q_fields(struct jr *r, const char *key, json_t **out)
{
	const char *k, *s;
	size_t kl, sl;
	json_t *o;
	int rc;

	switch (jr_peek(r)) {
	case JR_NULL:
		return jr_null(r);
	case JR_OBJECT:
		break;
	default:
		return jr_fail(r, "field '%s': expected an object", key);
	}
	if ((rc = jr_obj_begin(r)) < 0)
		return rc;
	if (!(o = json_object()))
		return q_oom(r);
	*out = o;
	while ((rc = jr_obj_next(r, &k, &kl)) > 0) {
		if (jr_peek(r) != JR_STRING)
			return jr_fail(r, "field '%s': a value is not a string", key);
		if ((rc = jr_str(r, &s, &sl)) < 0)
			return rc;
		/* a key given twice: the last value in the first one's place, as jansson */
		if (json_object_setn_new_nocheck(o, k, kl, json_stringn_nocheck(s, sl)) < 0)
			return q_oom(r);
	}
	return rc;
}

enum { QI_ID, QI_DRIVER, QI_SERVICE, QI_FIELDS, QI_METADATA, QI_COUNT };
static const struct qkey iid_keys[QI_COUNT] = {
	QK("id"), QK("driver"), QK("service"), QK("fields"), QK("metadata"),
};

/* metadata: any JSON, kept as compact text as iid_dec keeps it */
static int q_metadata(struct jr *r, char **out)
{
	size_t from;
	json_t *m;
	int rc;

	if (jr_peek(r) == JR_NULL)
		return jr_null(r);
	from = jr_offset(r);
	if ((rc = jr_skip(r)) < 0)
		return rc;
	m = json_loadb(r->text + from, jr_offset(r) - from, JSON_DECODE_ANY, NULL);
	*out = m ? json_text(m, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER) : NULL;
	json_decref(m);
	return *out ? 0 : q_oom(r);
}

static int q_iid(struct jr *r, const char *key, struct instance_id *out)
{
	unsigned seen = 0;
	const char *k;
	size_t kl;
	int rc, i;

	if (jr_peek(r) == JR_NULL)
		return jr_null(r);
	if (jr_peek(r) != JR_OBJECT)
		return jr_fail(r, "field '%s': expected an object", key);
	if ((rc = jr_obj_begin(r)) < 0)
		return rc;
	while ((rc = jr_obj_next(r, &k, &kl)) > 0) {
		if ((i = q_index(iid_keys, QI_COUNT, k, kl)) < 0) {
			rc = jr_skip(r);
		} else if ((rc = q_once(r, &seen, i, iid_keys)) == 0) {
			switch (i) {
			case QI_ID: rc = q_str(r, "id", &out->id); break;
			case QI_DRIVER: rc = q_str(r, "driver", &out->driver); break;
			case QI_SERVICE: rc = q_str(r, "service", &out->service); break;
			case QI_FIELDS: rc = q_fields(r, "fields", &out->fields); break;
			default: rc = q_metadata(r, &out->metadata); break;
			}
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

enum { QA_DEVICE, QA_MOUNTPOINT, QA_IID, QA_STATUS, QA_VOLUME_ID, QA_FIELDS, QA_COUNT };
static const struct qkey attachment_keys[QA_COUNT] = {
	QK("deviceName"), QK("mountPoint"), QK("instanceID"), QK("status"), QK("volumeID"),
	QK("fields"),
};

static int q_attachment(struct jr *r, struct volume_attachment *out)
{
	unsigned seen = 0;
	const char *k;
	size_t kl;
	int rc, i;

	if (jr_peek(r) != JR_OBJECT)
		return jr_fail(r, "attachment: expected an object");
	if ((rc = jr_obj_begin(r)) < 0)
		return rc;
	while ((rc = jr_obj_next(r, &k, &kl)) > 0) {
		if ((i = q_index(attachment_keys, QA_COUNT, k, kl)) < 0) {
			rc = jr_skip(r);
		} else if ((rc = q_once(r, &seen, i, attachment_keys)) == 0) {
			switch (i) {
			case QA_DEVICE: rc = q_str(r, "deviceName", &out->device_name); break;
			case QA_MOUNTPOINT: rc = q_str(r, "mountPoint", &out->mount_point); break;
			case QA_IID: rc = q_iid(r, "instanceID", &out->iid); break;
			case QA_STATUS: rc = q_str(r, "status", &out->status); break;
			case QA_VOLUME_ID: rc = q_str(r, "volumeID", &out->volume_id); break;
			default: rc = q_fields(r, "fields", &out->fields); break;
			}
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

static int q_attachments(struct jr *r, struct volume *out)
{
	size_t cap = 0;
	int rc;

	switch (jr_peek(r)) {
	case JR_NULL:
		return jr_null(r);
	case JR_ARRAY:
		break;
	default:
		return jr_fail(r, "field 'attachments': expected an array");
	}
	out->attachments_present = true;
	if ((rc = jr_arr_begin(r)) < 0)
		return rc;
	while ((rc = jr_arr_next(r)) > 0) {
		if (out->n_attachments == cap) {
			size_t ncap = cap ? cap * 2 : 2;
			struct volume_attachment *na =
				sys_realloc(out->attachments, ncap * sizeof(*na));
			if (!na)
				return q_oom(r);
			out->attachments = na;
			cap = ncap;
		}
		/* counted first, so that a partly filled entry is released too */
		memset(&out->attachments[out->n_attachments], 0, sizeof(*out->attachments));
		if ((rc = q_attachment(r, &out->attachments[out->n_attachments++])) < 0)
			return rc;
	}
	return rc;
}

static int q_volume(struct jr *r, struct volume *out)
{
	unsigned seen = 0;
	int64_t state = 0;
	const char *k;
	size_t kl;
	int rc, i;

	if (jr_peek(r) != JR_OBJECT)
		return jr_fail(r, "volume: expected an object");
	if ((rc = jr_obj_begin(r)) < 0)
		return rc;
	while ((rc = jr_obj_next(r, &k, &kl)) > 0) {
		if ((i = q_index(volume_keys, VM_COUNT, k, kl)) < 0) {
			rc = jr_skip(r);
		} else if ((rc = q_once(r, &seen, i, volume_keys)) == 0) {
			switch (i) {
			case VM_ATTACHMENTS: rc = q_attachments(r, out); break;
			case VM_STATE:
				rc = q_int(r, "attachmentState", INT_MAX, &state);
				out->attachment_state = (int)state;
				break;
			case VM_AZ:
				rc = q_str(r, "availabilityZone", &out->availability_zone);
				break;
			case VM_ENCRYPTED: rc = q_bool(r, "encrypted", &out->encrypted); break;
			case VM_IOPS: rc = q_int(r, "iops", INT64_MAX, &out->iops); break;
			case VM_NAME: rc = q_str(r, "name", &out->name); break;
			case VM_NETWORK: rc = q_str(r, "networkName", &out->network_name); break;
			case VM_SIZE: rc = q_int(r, "size", INT64_MAX, &out->size); break;
			case VM_STATUS: rc = q_str(r, "status", &out->status); break;
			case VM_ID: rc = q_str(r, "id", &out->id); break;
			case VM_TYPE: rc = q_str(r, "type", &out->type); break;
			default: rc = q_fields(r, "fields", &out->fields); break;
			}
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

/* The end of a quick decoding: r's verdict into e; r released. */
static int q_done(struct jr *r, int rc, struct err *e)
{
	if (rc == 0)
		rc = jr_end(r);
	if (rc < 0)
		err_set(e, rc, "%s", r->err.msg);
	jr_release(r);
	return rc;
}

int volume_from_text(const char *text, size_t len, struct volume *out, struct err *e)
{
	struct jr r;
	int rc;

	memset(out, 0, sizeof(*out));
	jr_init(&r, text, len, JR_MAX_DEPTH);
	rc = q_done(&r, q_volume(&r, out), e);
	if (rc < 0)
		volume_release(out);
	return rc;
}

/* Is key (kl bytes) after prev in byte order? */
static bool q_ascending(const struct buf *prev, const char *key, size_t kl)
{
	size_t n = prev->len < kl ? prev->len : kl;
	int c = memcmp(prev->data, key, n);

	return c < 0 || (c == 0 && prev->len < kl);
}

int volume_map_from_text(const char *text, size_t len, struct volume_list *out, struct err *e)
{
	struct buf key = { 0 };
	struct volume v;
	const char *k;
	size_t kl;
	struct jr r;
	int rc;

	jr_init(&r, text, len, JR_MAX_DEPTH);
	rc = jr_peek(&r) == JR_OBJECT ? jr_obj_begin(&r)
				       : jr_fail(&r, "volume map: expected an object");
	while (rc == 0 && (rc = jr_obj_next(&r, &k, &kl)) > 0) {
		if (key.data && !q_ascending(&key, k, kl)) {
			rc = jr_fail(&r, "volume map: keys not in ascending order");
			break;
		}
		key.len = 0;
		if (buf_add(&key, k, kl) < 0) {
			rc = q_oom(&r);
			break;
		}
		memset(&v, 0, sizeof(v));
		rc = q_volume(&r, &v);
		/* the key stands in for a missing "id" */
		if (rc == 0 && !v.id && !(v.id = sys_strdup(key.data)))
			rc = q_oom(&r);
		if (rc == 0 && volume_list_push(out, &v) < 0)
			rc = q_oom(&r);
		volume_release(&v);
	}
	rc = q_done(&r, rc, e);
	buf_release(&key);
	if (rc < 0)
		volume_list_release(out);
	return rc;
}

/* ---- the volume map, the tree's way ---- */

json_t *volume_map_to_json(const struct volume_list *l)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	for (size_t i = 0; ok && i < l->n; i++) {
		const char *id = l->v[i].id ? l->v[i].id : "";
		ok = oset(o, id, volume_to_json(&l->v[i]));
	}
	return built(o, ok);
}

/* One map entry; the key stands in for a missing "id". */
static int volume_map_entry(const char *key, const json_t *val, void *list, struct err *e)
{
	struct volume_list *out = list;
	struct volume v;
	int r;

	r = volume_from_json(val, &v, e);
	if (r < 0)
		return err_prefix(e, "volume '%s'", key);
	if (!v.id) {
		v.id = sys_strdup(key);
		if (!v.id) {
			volume_release(&v);
			return oom(e);
		}
	}
	r = volume_list_push(out, &v);
	if (r < 0) {
		volume_release(&v);
		return oom(e);
	}
	return 0;
}

/* Each member of the object j (a map keyed by ID or name) through entry. */
static int map_each(const json_t *j, const char *what,
		    int (*entry)(const char *key, const json_t *val, void *out, struct err *e),
		    void *out, struct err *e)
{
	const char *k;
	json_t *v;
	int r = expect_object(j, what, e);

	json_object_foreach ((json_t *)j, k, v) {
		if (r < 0)
			break;
		r = entry(k, v, out, e);
	}
	return r;
}

int volume_map_from_json(const json_t *j, struct volume_list *out, struct err *e)
{
	int r = map_each(j, "volume map", volume_map_entry, out, e);

	if (r < 0)
		volume_list_release(out);
	return r;
}

/* ---- ServiceInfo: name, instance?, driver{name, type, nextDevice?} ---- */

static json_t *driver_info_to_json(const struct service_info *s)
{
	json_t *o = json_object(), *nd;
	bool ok = o != NULL;

	ok = ok && oset(o, "name", jstr(s->driver_name));
	ok = ok && oset(o, "type", jstr(storage_type_name(s->driver_type)));
	if (ok && s->has_next_device) {
		nd = json_object();
		ok = oset(o, "nextDevice", nd);
		ok = ok && oset(nd, "ignore", json_boolean(s->next_device.ignore));
		ok = ok && oset(nd, "prefix", jstr(s->next_device.prefix));
		ok = ok && oset(nd, "pattern", jstr(s->next_device.pattern));
	}
	return built(o, ok);
}

json_t *service_info_to_json(const struct service_info *s)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	ok = ok && oset(o, "name", jstr(s->name));
	if (ok && s->has_instance)
		ok = oset(o, "instance", instance_to_json(&s->instance));
	ok = ok && oset(o, "driver", driver_info_to_json(s));
	return built(o, ok);
}

static int storage_type_dec(const json_t *d, enum storage_type *out, struct err *e)
{
	const json_t *t = member(d, "type");
	const char *s;

	*out = ST_BLOCK;
	if (!t)
		return 0;
	if (!json_is_string(t))
		return err_set(e, -EINVAL, "field 'type': expected a string, got %s",
			       jtype_name(t));
	s = json_string_value(t);
	if (strcmp(s, "block") == 0)
		*out = ST_BLOCK;
	else if (strcmp(s, "nas") == 0)
		*out = ST_NAS;
	else if (strcmp(s, "object") == 0)
		*out = ST_OBJECT;
	else
		return err_set(e, -EINVAL,
			       "field 'type': expected \"block\", \"nas\" or \"object\"");
	return 0;
}

static int next_device_dec(const json_t *d, struct service_info *out, struct err *e)
{
	const json_t *nd = member(d, "nextDevice");
	int r;

	if (!nd)
		return 0;
	r = expect_object(nd, "field 'nextDevice'", e);
	if (r == 0)
		r = dec_bool(nd, "ignore", NULL, &out->next_device.ignore, e);
	if (r == 0)
		r = dec_str(nd, "prefix", &out->next_device.prefix, e);
	if (r == 0)
		r = dec_str(nd, "pattern", &out->next_device.pattern, e);
	out->has_next_device = true;
	return r;
}

static int driver_info_dec(const json_t *j, struct service_info *out, struct err *e)
{
	const json_t *d = member(j, "driver");
	int r;

	if (!d)
		return 0;
	r = expect_object(d, "field 'driver'", e);
	if (r == 0)
		r = dec_str(d, "name", &out->driver_name, e);
	if (r == 0)
		r = storage_type_dec(d, &out->driver_type, e);
	if (r == 0)
		r = next_device_dec(d, out, e);
	if (r < 0 && r != -ENOMEM)
		err_prefix(e, "driver");
	return r;
}

static int service_info_dec(const json_t *j, struct service_info *out, struct err *e)
{
	const json_t *in;
	int r;

	r = expect_object(j, "service", e);
	if (r == 0)
		r = dec_str(j, "name", &out->name, e);
	if (r < 0)
		return r;
	in = member(j, "instance");
	if (in) {
		r = instance_from_json(in, &out->instance, e);
		if (r < 0)
			return err_prefix(e, "instance");
		out->has_instance = true;
	}
	return driver_info_dec(j, out, e);
}

int service_info_from_json(const json_t *j, struct service_info *out, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = service_info_dec(j, out, e);
	if (r < 0)
		service_info_release(out);
	return r;
}

json_t *service_map_to_json(const struct service_list *l)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	for (size_t i = 0; ok && i < l->n; i++) {
		const char *name = l->s[i].name ? l->s[i].name : "";
		ok = oset(o, name, service_info_to_json(&l->s[i]));
	}
	return built(o, ok);
}

static int service_map_entry(const char *key, const json_t *val, void *list, struct err *e)
{
	struct service_list *out = list;
	struct service_info *ns;
	struct service_info s;
	int r;

	r = service_info_from_json(val, &s, e);
	if (r < 0)
		return err_prefix(e, "service '%s'", key);
	if (!s.name)
		s.name = sys_strdup(key);
	ns = s.name ? sys_realloc(out->s, (out->n + 1) * sizeof(*ns)) : NULL;
	if (!ns) {
		service_info_release(&s);
		return oom(e);
	}
	out->s = ns;
	out->s[out->n++] = s;
	return 0;
}

int service_map_from_json(const json_t *j, struct service_list *out, struct err *e)
{
	int r = map_each(j, "service map", service_map_entry, out, e);

	if (r < 0)
		service_list_release(out);
	return r;
}

/* ---- requests ---- */

/*
 * types.VolumeCreateRequest: name, availabilityZone, encrypted,
 * encryptionKey, iops, size, type, opts; the optional members are Go
 * pointers, present exactly when set.
 */
json_t *volume_create_req_to_json(const struct volume_create_req *r)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	ok = ok && oset(o, "name", jstr(r->name));
	if (ok && r->availability_zone)
		ok = oset(o, "availabilityZone", jstr(r->availability_zone));
	if (ok && r->has_encrypted)
		ok = oset(o, "encrypted", json_boolean(r->encrypted));
	if (ok && r->encryption_key)
		ok = oset(o, "encryptionKey", jstr(r->encryption_key));
	if (ok && r->has_iops)
		ok = oset(o, "iops", json_integer(r->iops));
	if (ok && r->has_size)
		ok = oset(o, "size", json_integer(r->size));
	if (ok && r->type)
		ok = oset(o, "type", jstr(r->type));
	if (ok && has_members(r->opts))
		ok = oset(o, "opts", json_deep_copy(r->opts));
	return built(o, ok);
}

static int create_req_dec(const json_t *j, struct volume_create_req *out, struct err *e)
{
	int r;

	r = expect_object(j, "volume create request", e);
	if (r == 0)
		r = dec_str(j, "name", &out->name, e);
	if (r == 0 && !out->name)
		r = err_set(e, -EINVAL, "field 'name' is required");
	if (r == 0)
		r = dec_str(j, "availabilityZone", &out->availability_zone, e);
	if (r == 0)
		r = dec_bool(j, "encrypted", &out->has_encrypted, &out->encrypted, e);
	if (r == 0)
		r = dec_str(j, "encryptionKey", &out->encryption_key, e);
	if (r == 0)
		r = dec_int(j, "iops", CODEC_MAX_IOPS, &out->has_iops, &out->iops, e);
	if (r == 0)
		r = dec_int(j, "size", CODEC_MAX_SIZE_GB, &out->has_size, &out->size, e);
	if (r == 0)
		r = dec_str(j, "type", &out->type, e);
	if (r == 0)
		r = dec_obj(j, "opts", false, &out->opts, e);
	if (r == 0 && ((r = option_value_check("availabilityZone", out->availability_zone, e)) < 0 ||
		       (r = option_value_check("encryptionKey", out->encryption_key, e)) < 0 ||
		       (r = option_value_check("type", out->type, e)) < 0 ||
		       (r = option_values_check("opts", out->opts, e)) < 0))
		return r;
	return r;
}

int volume_create_req_from_json(const json_t *j, struct volume_create_req *out, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = create_req_dec(j, out, e);
	if (r < 0)
		volume_create_req_release(out);
	return r;
}

/* types.VolumeAttachRequest: force?, nextDeviceName?, opts? */
json_t *volume_attach_req_to_json(const struct volume_attach_req *r)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	if (ok && r->force)
		ok = oset(o, "force", json_true());
	if (ok && r->next_device_name)
		ok = oset(o, "nextDeviceName", jstr(r->next_device_name));
	if (ok && has_members(r->opts))
		ok = oset(o, "opts", json_deep_copy(r->opts));
	return built(o, ok);
}

int volume_attach_req_from_json(const json_t *j, struct volume_attach_req *out, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = expect_object(j, "volume attach request", e);
	if (r == 0)
		r = dec_bool(j, "force", NULL, &out->force, e);
	if (r == 0)
		r = dec_str(j, "nextDeviceName", &out->next_device_name, e);
	if (r == 0)
		r = dec_obj(j, "opts", false, &out->opts, e);
	if (r == 0 && (r = option_value_check("nextDeviceName", out->next_device_name, e)) == 0)
		r = option_values_check("opts", out->opts, e);
	if (r < 0)
		volume_attach_req_release(out);
	return r;
}

/* types.VolumeDetachRequest: force?, opts? */
json_t *volume_detach_req_to_json(const struct volume_detach_req *r)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	if (ok && r->force)
		ok = oset(o, "force", json_true());
	if (ok && has_members(r->opts))
		ok = oset(o, "opts", json_deep_copy(r->opts));
	return built(o, ok);
}

int volume_detach_req_from_json(const json_t *j, struct volume_detach_req *out, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = expect_object(j, "volume detach request", e);
	if (r == 0)
		r = dec_bool(j, "force", NULL, &out->force, e);
	if (r == 0)
		r = dec_obj(j, "opts", false, &out->opts, e);
	if (r < 0)
		volume_detach_req_release(out);
	return r;
}

/* ---- attach reply: {"volume": Volume, "attachToken": "..."} ---- */

json_t *attach_reply_to_json(const struct volume *v, const char *token)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	ok = ok && oset(o, "volume", volume_to_json(v));
	ok = ok && oset(o, "attachToken", jstr(token));
	return built(o, ok);
}

int attach_reply_from_json(const json_t *j, struct volume *out_v, char **out_token, struct err *e)
{
	char *token = NULL;
	int r;

	memset(out_v, 0, sizeof(*out_v));
	if (out_token)
		*out_token = NULL;
	r = expect_object(j, "attach reply", e);
	if (r == 0)
		r = dec_str(j, "attachToken", &token, e);
	if (r < 0)
		return r;
	r = volume_from_json(member(j, "volume"), out_v, e);
	if (r < 0) {
		free(token);
		return err_prefix(e, "attach reply");
	}
	if (out_token)
		*out_token = token;
	else
		free(token);
	return 0;
}

/* ---- error bodies ---- */

json_t *error_body_to_json(const char *message, int status, json_t *inner_stolen)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	ok = ok && oset(o, "message", jstr(message));
	ok = ok && oset(o, "status", json_integer(status));
	if (ok && inner_stolen) {
		ok = oset(o, "error", inner_stolen);
		inner_stolen = NULL;
	}
	json_decref(inner_stolen);
	return built(o, ok);
}

/* Copy at most msgsz-1 bytes, blanking control bytes (a message ends up
 * in logs and terminals) and trimming surrounding white space. */
static void copy_message(char *msg, size_t msgsz, const char *s, size_t len)
{
	size_t o = 0;

	while (len && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' ||
		       s[len - 1] == '\n'))
		len--;
	for (size_t i = 0; i < len && o + 1 < msgsz; i++) {
		unsigned char c = (unsigned char)s[i];
		msg[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	msg[o] = '\0';
}

void error_body_parse(const char *body, size_t len, char *msg, size_t msgsz, int *status)
{
	const json_t *m, *st;
	json_t *j;

	if (status)
		*status = 0;
	if (msgsz == 0)
		return;
	msg[0] = '\0';
	if (!body || len == 0)
		return;
	j = json_loadb(body, len, 0, NULL);
	m = j && json_is_object(j) ? json_object_get(j, "message") : NULL;
	st = j && json_is_object(j) ? json_object_get(j, "status") : NULL;
	if (status && st && json_is_integer(st) && json_integer_value(st) >= 0 &&
	    json_integer_value(st) <= INT_MAX)
		*status = (int)json_integer_value(st);
	if (m && json_is_string(m))
		copy_message(msg, msgsz, json_string_value(m), json_string_length(m));
	else
		copy_message(msg, msgsz, body, len);
	json_decref(j);
}

/* ---- whole bodies ---- */

static bool all_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	}
	return true;
}

/* Nesting depth of j (a scalar is 0, {} is 1), stopping past limit. */
static int json_depth(const json_t *j, int limit)
{
	int max = 0, d;
	const char *k;
	json_t *v;
	size_t i;

	if (!json_is_object(j) && !json_is_array(j))
		return 0;
	if (limit <= 0)
		return 1;
	if (json_is_object(j)) {
		json_object_foreach ((json_t *)j, k, v) {
			d = json_depth(v, limit - 1);
			max = d > max ? d : max;
		}
	} else {
		json_array_foreach (j, i, v) {
			d = json_depth(v, limit - 1);
			max = d > max ? d : max;
		}
	}
	return max + 1;
}

int json_body_parse(const char *body, size_t len, size_t max_len, json_t **out, struct err *e)
{
	json_error_t jerr;
	json_t *j;

	*out = NULL;
	if (len > max_len)
		return err_set(e, -E2BIG, "request body is larger than %zu bytes", max_len);
	if (!body || all_space(body, len)) {
		*out = json_object();
		return *out ? 0 : oom(e);
	}
	/* a key given twice is ambiguous (which one did the sender mean?) */
	j = json_parse_text(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!j && json_load_oom(&jerr))
		return oom(e);
	if (!j)
		return err_set(e, -EINVAL, "invalid JSON at line %d, column %d: %s", jerr.line,
			       jerr.column, jerr.text);
	if (!json_is_object(j)) {
		err_set(e, -EINVAL, "request body must be a JSON object, got %s", jtype_name(j));
		json_decref(j);
		return -EINVAL;
	}
	if (json_depth(j, CODEC_MAX_DEPTH) > CODEC_MAX_DEPTH) {
		json_decref(j);
		return err_set(e, -EINVAL, "request body is nested deeper than %d levels",
			       CODEC_MAX_DEPTH);
	}
	*out = j;
	return 0;
}

bool json_body_strings(const char *body, size_t len, const char *const keys[], size_t n,
		       const char *vals[], char *buf, size_t bufsz)
{
	unsigned seen = 0;
	size_t used = 0, kl, sl;
	const char *k, *s;
	struct jr r;
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		vals[i] = NULL;
	if (n > 32)
		return false;
	jr_init(&r, body, len, JR_MAX_DEPTH);
	if (jr_peek(&r) == JR_NONE && jr_offset(&r) == len) { /* empty: {} */
		jr_release(&r);
		return true;
	}
	rc = jr_peek(&r) == JR_OBJECT ? jr_obj_begin(&r) : -EINVAL;
	while (rc == 0 && (rc = jr_obj_next(&r, &k, &kl)) > 0) {
		for (i = 0; i < n && !(strlen(keys[i]) == kl && memcmp(keys[i], k, kl) == 0); i++)
			;
		/* another member, one given twice (an error there), or not a string */
		if (i == n || (seen & (1u << i))) {
			rc = -EINVAL;
			break;
		}
		seen |= 1u << i;
		if (jr_peek(&r) == JR_NULL) {
			rc = jr_null(&r);
			continue;
		}
		if (jr_peek(&r) != JR_STRING || (rc = jr_str(&r, &s, &sl)) < 0 ||
		    sl >= bufsz - used) {
			rc = -EINVAL;
			break;
		}
		memcpy(buf + used, s, sl);
		buf[used + sl] = '\0';
		vals[i] = buf + used;
		used += sl + 1;
		rc = 0;
	}
	if (rc == 0)
		rc = jr_end(&r);
	jr_release(&r);
	if (rc < 0) {
		for (i = 0; i < n; i++)
			vals[i] = NULL;
		return false;
	}
	return true;
}

/* ---- dumping, byte-compatible with Go's encoding/json ---- */

/* Extra bytes go_escape needs at s, 0 when it copies the byte as is. */
static size_t go_escape_extra(const unsigned char *s)
{
	if (*s == '<' || *s == '>' || *s == '&')
		return 5; /* "\u003c" */
	if (s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9))
		return 3; /* "\u2028" for 3 bytes */
	if (s[0] == '\\' && (s[1] == 'b' || s[1] == 'f'))
		return 4; /* "\u0008" for "\b" */
	return 0;
}

/*
 * Rewrite jansson's output the way Go writes the same strings: <, > and &
 * as \u003c \u003e \u0026 (Go's HTML-safe default), U+2028/U+2029 escaped,
 * \b and \f as \u0008 and \u000c, and lower-case hex in \u escapes. All of
 * these occur only inside strings, so no parsing is needed. Frees s.
 */
static char *go_escape(char *s)
{
	const unsigned char *p;
	size_t extra = 0, o = 0;
	char *out;

	if (!s)
		return NULL;
	for (p = (const unsigned char *)s; *p; p++) {
		extra += go_escape_extra(p);
		if (*p == '\\' && p[1])
			p++;
	}
	if (extra == 0 && !strstr(s, "\\u"))
		return s;
	out = sys_malloc(strlen(s) + extra + 1);
	if (!out) {
		free(s);
		return NULL;
	}
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '<' || *p == '>' || *p == '&') {
			o += (size_t)sprintf(out + o, "\\u00%02x", *p);
		} else if (go_escape_extra(p) == 3) {
			o += (size_t)sprintf(out + o, "\\u%s", p[2] == 0xa8 ? "2028" : "2029");
			p += 2;
		} else if (*p == '\\' && (p[1] == 'b' || p[1] == 'f')) {
			o += (size_t)sprintf(out + o, "\\u%s", p[1] == 'b' ? "0008" : "000c");
			p++;
		} else if (*p == '\\' && p[1] == 'u') {
			out[o++] = '\\';
			out[o++] = 'u';
			p += 2;
			for (int i = 0; i < 4 && *p; i++, p++)
				out[o++] = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
			p--;
		} else if (*p == '\\' && p[1]) {
			out[o++] = '\\';
			out[o++] = (char)*++p;
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o] = '\0';
	free(s);
	return out;
}

char *json_dump_pretty(const json_t *j)
{
	return go_escape(json_text(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY));
}

char *json_dump_compact(const json_t *j)
{
	return go_escape(json_text(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY));
}

/* ---- types.Snapshot: Go's member order ---- */

void snapshot_write(struct jw *w, const struct snapshot *s)
{
	jw_obj_begin(w);
	if (nonempty(s->description))
		write_str_member(w, "description", s->description);
	if (s->encrypted) {
		jw_key(w, "encrypted");
		jw_bool(w, true);
	}
	if (nonempty(s->name))
		write_str_member(w, "name", s->name);
	write_str_member(w, "id", s->id);
	if (s->start_time)
		write_int_member(w, "startTime", s->start_time);
	if (nonempty(s->status))
		write_str_member(w, "status", s->status);
	if (nonempty(s->volume_id))
		write_str_member(w, "volumeID", s->volume_id);
	if (s->volume_size)
		write_int_member(w, "volumeSize", s->volume_size);
	if (has_members(s->fields)) {
		jw_key(w, "fields");
		write_sorted(w, s->fields);
	}
	jw_obj_end(w);
}

json_t *snapshot_to_json(const struct snapshot *s)
{
	struct jw w;
	char *text = NULL;
	size_t len = 0;
	json_t *j;

	jw_init(&w, 0);
	snapshot_write(&w, s);
	if (jw_finish(&w, &text, &len) < 0)
		return NULL;
	j = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
	free(text);
	return j;
}

static int snapshot_dec(const json_t *j, struct snapshot *out, struct err *e)
{
	int r = expect_object(j, "snapshot", e);

	if (r == 0)
		r = dec_str(j, "description", &out->description, e);
	if (r == 0)
		r = dec_bool(j, "encrypted", NULL, &out->encrypted, e);
	if (r == 0)
		r = dec_str(j, "name", &out->name, e);
	if (r == 0)
		r = dec_str(j, "id", &out->id, e);
	if (r == 0)
		r = dec_int(j, "startTime", INT64_MAX, NULL, &out->start_time, e);
	if (r == 0)
		r = dec_str(j, "status", &out->status, e);
	if (r == 0)
		r = dec_str(j, "volumeID", &out->volume_id, e);
	if (r == 0)
		r = dec_int(j, "volumeSize", CODEC_MAX_SIZE_GB, NULL, &out->volume_size, e);
	if (r == 0)
		r = dec_obj(j, "fields", true, &out->fields, e);
	return r;
}

int snapshot_from_json(const json_t *j, struct snapshot *out, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = snapshot_dec(j, out, e)) < 0)
		snapshot_release(out);
	return r;
}

json_t *snapshot_map_to_json(const struct snapshot_list *l)
{
	json_t *o = json_object();
	bool ok = o != NULL;

	for (size_t i = 0; ok && i < l->n; i++)
		ok = oset(o, l->v[i].id ? l->v[i].id : "", snapshot_to_json(&l->v[i]));
	return built(o, ok);
}

static int snapshot_map_entry(const char *key, const json_t *val, void *list, struct err *e)
{
	struct snapshot s;
	int r = snapshot_from_json(val, &s, e);

	if (r < 0)
		return err_prefix(e, "snapshot '%s'", key);
	if (!s.id && !(s.id = sys_strdup(key))) {
		snapshot_release(&s);
		return oom(e);
	}
	if (snapshot_list_push(list, &s) < 0) {
		snapshot_release(&s);
		return oom(e);
	}
	return 0;
}

int snapshot_map_from_json(const json_t *j, struct snapshot_list *out, struct err *e)
{
	int r = map_each(j, "snapshot map", snapshot_map_entry, out, e);

	if (r < 0)
		snapshot_list_release(out);
	return r;
}

/* ---- the requests of snapshots, copies and resize ---- */

/* {snapshotName, opts}; opts.description is kept as the description */
json_t *volume_snapshot_req_to_json(const struct volume_snapshot_req *r)
{
	json_t *o = json_object(), *opts = has_members(r->opts) ? json_deep_copy(r->opts) : NULL;
	bool ok = o != NULL && (!has_members(r->opts) || opts);

	if (ok && r->description) {
		if (!opts)
			opts = json_object();
		ok = opts && oset(opts, "description", jstr(r->description));
	}
	ok = ok && oset(o, "snapshotName", jstr(r->snapshot_name));
	if (ok && opts) {
		ok = oset(o, "opts", opts);
		opts = NULL;
	}
	json_decref(opts);
	return built(o, ok);
}

int volume_snapshot_req_from_json(const json_t *j, struct volume_snapshot_req *out,
				  struct err *e)
{
	const json_t *d;
	int r;

	memset(out, 0, sizeof(*out));
	r = expect_object(j, "volume snapshot request", e);
	if (r == 0)
		r = dec_str(j, "snapshotName", &out->snapshot_name, e);
	if (r == 0 && !nonempty(out->snapshot_name))
		r = err_set(e, -EINVAL, "field 'snapshotName' is required");
	if (r == 0)
		r = dec_obj(j, "opts", false, &out->opts, e);
	if (r == 0 && (d = member(out->opts, "description")))
		r = dec_str_v(d, "opts.description", &out->description, e);
	if (r == 0)
		r = option_values_check("opts", out->opts, e);
	if (r < 0)
		volume_snapshot_req_release(out);
	return r;
}

json_t *volume_copy_req_to_json(const struct volume_copy_req *r)
{
	json_t *o = json_object();
	bool ok = o != NULL && oset(o, "volumeName", jstr(r->volume_name));

	if (ok && has_members(r->opts))
		ok = oset(o, "opts", json_deep_copy(r->opts));
	return built(o, ok);
}

int volume_copy_req_from_json(const json_t *j, struct volume_copy_req *out, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = expect_object(j, "volume copy request", e);
	if (r == 0)
		r = dec_str(j, "volumeName", &out->volume_name, e);
	if (r == 0 && !nonempty(out->volume_name))
		r = err_set(e, -EINVAL, "field 'volumeName' is required");
	if (r == 0)
		r = dec_obj(j, "opts", false, &out->opts, e);
	if (r == 0)
		r = option_values_check("opts", out->opts, e);
	if (r < 0)
		volume_copy_req_release(out);
	return r;
}

json_t *snapshot_copy_req_to_json(const struct snapshot_copy_req *r)
{
	json_t *o = json_object();
	bool ok = o != NULL && oset(o, "snapshotName", jstr(r->snapshot_name)) &&
		  oset(o, "destinationID", jstr(r->destination_id));

	if (ok && has_members(r->opts))
		ok = oset(o, "opts", json_deep_copy(r->opts));
	return built(o, ok);
}

int snapshot_copy_req_from_json(const json_t *j, struct snapshot_copy_req *out, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = expect_object(j, "snapshot copy request", e);
	if (r == 0)
		r = dec_str(j, "snapshotName", &out->snapshot_name, e);
	if (r == 0 && !nonempty(out->snapshot_name))
		r = err_set(e, -EINVAL, "field 'snapshotName' is required");
	if (r == 0)
		r = dec_str(j, "destinationID", &out->destination_id, e);
	if (r == 0 && !out->destination_id)
		r = err_set(e, -EINVAL, "field 'destinationID' is required");
	if (r == 0)
		r = dec_obj(j, "opts", false, &out->opts, e);
	if (r == 0)
		r = option_values_check("opts", out->opts, e);
	if (r < 0)
		snapshot_copy_req_release(out);
	return r;
}

json_t *volume_resize_req_to_json(const struct volume_resize_req *r)
{
	json_t *o = json_object();
	bool ok = o != NULL && oset(o, "size", json_integer(r->size));

	if (ok && has_members(r->opts))
		ok = oset(o, "opts", json_deep_copy(r->opts));
	return built(o, ok);
}

int volume_resize_req_from_json(const json_t *j, struct volume_resize_req *out, struct err *e)
{
	bool present = false;
	int r;

	memset(out, 0, sizeof(*out));
	r = expect_object(j, "volume resize request", e);
	if (r == 0)
		r = dec_int(j, "size", CODEC_MAX_SIZE_GB, &present, &out->size, e);
	if (r == 0 && (!present || out->size < 1))
		r = err_set(e, -EINVAL, "field 'size' is required: the new size in GiB, at least 1");
	if (r == 0)
		r = dec_obj(j, "opts", false, &out->opts, e);
	if (r < 0)
		volume_resize_req_release(out);
	return r;
}
