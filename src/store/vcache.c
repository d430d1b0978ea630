#include "store/vcache.h"
#include "util/jsondump.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*
 * One allocation per entry: the fixed part, then the strings packed
 * behind it (service, lower-cased name, and the row's text columns), so
 * that 10,000 volumes cost about a megabyte. Attachments are rare (only
 * volumes in use) and kept as deep copies.
 */
struct vcache_entry {
	struct vcache_entry *next;    /* chain by (service, name) */
	struct vcache_entry *next_id; /* chain by (service, id): writes forget by id */
	uint64_t hash, id_hash;
	int64_t size, iops, created_at;
	bool encrypted;
	struct volume_attachment *att;
	size_t n_att;
	const char *service, *key, *id, *name, *type, *az, *status, *fields;
	char buf[];
};

/* FNV-1a over service, a 0 byte, and s (folded as NOCASE does if fold). */
static uint64_t fnv(const char *service, const char *s, bool fold)
{
	uint64_t h = 1469598103934665603ULL;

	for (const unsigned char *p = (const unsigned char *)service; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	h = (h ^ 0) * 1099511628211ULL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ (fold && *p >= 'A' && *p <= 'Z' ? *p + 32 : *p)) * 1099511628211ULL;
	return h;
}

static uint64_t key_hash(const char *service, const char *name)
{
	return fnv(service, name, true);
}

static bool same_name(const char *key, const char *name)
{
	for (; *key && *name; key++, name++) {
		unsigned char a = (unsigned char)*key, b = (unsigned char)*name;
		if (a != (b >= 'A' && b <= 'Z' ? b + 32 : b))
			return false;
	}
	return *key == *name;
}

static struct vcache_entry **find_slot(struct vcache *c, const char *service, const char *name,
				       uint64_t h)
{
	struct vcache_entry **pp = &c->slots[h % c->nslots];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && strcmp((*pp)->service, service) == 0 &&
		    same_name((*pp)->key, name))
			return pp;
	return pp;
}

/* Where en (or, with en NULL, the entry of id) is linked in its id chain. */
static struct vcache_entry **find_id_slot(struct vcache *c, const char *service, const char *id,
					  uint64_t h)
{
	struct vcache_entry **pp = &c->id_slots[h % c->nslots];

	for (; *pp; pp = &(*pp)->next_id)
		if ((*pp)->id_hash == h && strcmp((*pp)->id, id) == 0 &&
		    strcmp((*pp)->service, service) == 0)
			return pp;
	return pp;
}

static void entry_free(struct vcache_entry *en)
{
	for (size_t i = 0; i < en->n_att; i++)
		volume_attachment_release(&en->att[i]);
	free(en->att);
	free(en);
}

/* Deep copies of n attachments, fields included (nobody shares them). */
static int attachments_copy(struct volume_attachment **out, const struct volume_attachment *a,
			    size_t n)
{
	struct volume tmp = { .attachments = (struct volume_attachment *)a, .n_attachments = n };
	struct volume cp;

	*out = NULL;
	if (n == 0)
		return 0;
	if (volume_copy(&cp, &tmp) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *f = cp.attachments[i].fields;
		if (f && !(cp.attachments[i].fields = json_deep_copy(f))) {
			cp.attachments[i].fields = f;
			volume_release(&cp);
			return -ENOMEM;
		}
		json_decref(f);
	}
	*out = cp.attachments;
	cp.attachments = NULL;
	cp.n_attachments = 0;
	volume_release(&cp);
	return 0;
}

static int grow(struct vcache *c)
{
	size_t nslots = c->nslots ? c->nslots * 2 : 1024;
	struct vcache_entry **slots = calloc(nslots, sizeof(*slots));
	struct vcache_entry **id_slots = calloc(nslots, sizeof(*id_slots));

	if (!slots || !id_slots) {
		free(slots);
		free(id_slots);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->nslots; i++) {
		for (struct vcache_entry *en = c->slots[i], *next; en; en = next) {
			next = en->next;
			en->next = slots[en->hash % nslots];
			slots[en->hash % nslots] = en;
			en->next_id = id_slots[en->id_hash % nslots];
			id_slots[en->id_hash % nslots] = en;
		}
	}
	free(c->slots);
	free(c->id_slots);
	c->slots = slots;
	c->id_slots = id_slots;
	c->nslots = nslots;
	return 0;
}

/* Unlink en, found at *pp in its name chain, from both chains and free it. */
static void entry_drop(struct vcache *c, struct vcache_entry **pp)
{
	struct vcache_entry *en = *pp, **ip = find_id_slot(c, en->service, en->id, en->id_hash);

	*pp = en->next;
	if (*ip == en)
		*ip = en->next_id;
	entry_free(en);
	c->n--;
}

/* Append s (NULL stays NULL) to the entry's buffer at *at. */
static const char *pack(struct vcache_entry *en, size_t *at, const char *s)
{
	char *d;

	if (!s)
		return NULL;
	d = en->buf + *at;
	*at += strlen(s) + 1;
	return memcpy(d, s, strlen(s) + 1);
}

static size_t packed_len(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

void vcache_put(struct vcache *c, const char *service, const struct volume *v)
{
	struct vcache_entry *en, **pp;
	char *fields_text = NULL;
	size_t len, at = 0;
	uint64_t h;

	if (!v->id || !v->name || c->n >= VCACHE_MAX)
		return;
	if ((c->n + 1) * 4 > c->nslots * 3 && grow(c) < 0)
		return;
	/* as text: a jansson object costs ten times the bytes */
	if (v->fields && !(fields_text = json_text(v->fields, JSON_COMPACT | JSON_PRESERVE_ORDER)))
		return;
	len = packed_len(service) + 2 * packed_len(v->name) + packed_len(v->id) +
	      packed_len(v->type) + packed_len(v->availability_zone) + packed_len(v->status) +
	      packed_len(fields_text);
	if (!(en = malloc(sizeof(*en) + len))) {
		free(fields_text);
		return;
	}
	*en = (struct vcache_entry){ .size = v->size, .iops = v->iops,
				     .created_at = v->created_at, .encrypted = v->encrypted };
	if (attachments_copy(&en->att, v->attachments, v->n_attachments) < 0) {
		free(fields_text);
		free(en);
		return;
	}
	en->n_att = v->n_attachments;
	en->service = pack(en, &at, service);
	en->key = pack(en, &at, v->name);
	for (char *k = (char *)en->key; *k; k++)
		if (*k >= 'A' && *k <= 'Z')
			*k = (char)(*k + 32);
	en->name = pack(en, &at, v->name);
	en->id = pack(en, &at, v->id);
	en->type = pack(en, &at, v->type);
	en->az = pack(en, &at, v->availability_zone);
	en->status = pack(en, &at, v->status);
	en->fields = pack(en, &at, fields_text);
	free(fields_text);
	en->hash = h = key_hash(service, v->name);
	en->id_hash = fnv(service, v->id, false);
	pp = find_slot(c, service, v->name, h);
	if (*pp) /* replace: the newer row wins */
		entry_drop(c, pp);
	en->next = *pp;
	*pp = en;
	en->next_id = c->id_slots[en->id_hash % c->nslots];
	c->id_slots[en->id_hash % c->nslots] = en;
	c->n++;
}

static json_t *fields_of(const char *text)
{
	if (!text)
		return NULL;
	if (strcmp(text, "{}") == 0)
		return json_object();
	return json_loads(text, 0, NULL);
}

int vcache_get(struct vcache *c, const char *service, const char *name, struct volume *out)
{
	struct vcache_entry *en;
	struct volume view;

	if (!c->nslots || !(en = *find_slot(c, service, name, key_hash(service, name))))
		return -ENOENT;
	view = (struct volume){ .id = (char *)en->id, .name = (char *)en->name,
				.type = (char *)en->type, .availability_zone = (char *)en->az,
				.status = (char *)en->status, .size = en->size, .iops = en->iops,
				.encrypted = en->encrypted, .created_at = en->created_at };
	if (volume_copy(out, &view) < 0)
		return -ENOMEM;
	out->fields = fields_of(en->fields); /* unparsable text: none, as a row read gives */
	if (attachments_copy(&out->attachments, en->att, en->n_att) < 0) {
		volume_release(out);
		return -ENOMEM;
	}
	out->n_attachments = en->n_att;
	return 0;
}

int vcache_view(struct vcache *c, const char *service, const char *name, volume_view_fn fn,
		void *arg, bool *hit, struct err *e)
{
	struct vcache_entry *en;
	struct volume view;
	int r;

	*hit = c->nslots && (en = *find_slot(c, service, name, key_hash(service, name)));
	if (!*hit)
		return 0;
	view = (struct volume){ .id = (char *)en->id, .name = (char *)en->name,
				.type = (char *)en->type, .availability_zone = (char *)en->az,
				.status = (char *)en->status, .size = en->size, .iops = en->iops,
				.encrypted = en->encrypted, .created_at = en->created_at,
				.attachments = en->att, .n_attachments = en->n_att,
				.fields = fields_of(en->fields) };
	r = fn(arg, &view, e);
	json_decref(view.fields);
	return r;
}

void vcache_forget_id(struct vcache *c, const char *service, const char *id)
{
	struct vcache_entry *en;

	if (!c->nslots || !(en = *find_id_slot(c, service, id, fnv(service, id, false))))
		return;
	entry_drop(c, find_slot(c, en->service, en->key, en->hash));
}

void vcache_clear(struct vcache *c)
{
	for (size_t i = 0; i < c->nslots; i++) {
		for (struct vcache_entry *en = c->slots[i], *next; en; en = next) {
			next = en->next;
			entry_free(en);
		}
	}
	free(c->slots);
	free(c->id_slots);
	c->slots = NULL;
	c->id_slots = NULL;
	c->nslots = 0;
	c->n = 0;
}
