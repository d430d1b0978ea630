/*
 * headers: parsers and formatters for Libstorage-Instanceid,
 * Libstorage-Localdevices and Libstorage-Tx (see headers.h).
 *
 * The grammars follow libStorage 0.10 (types.InstanceID.UnmarshalText and
 * friends) but are stricter than the Go regexes: what the original would
 * have accepted and then misread (a bad escape silently dropped, metadata
 * that is not JSON) is refused here with a message naming the header.
 */
#include "api/headers.h"
#include "api/codec.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/names.h"
#include "util/sys.h"
#include "util/urlesc.h"

#define H_IID "Libstorage-Instanceid"
#define H_LD  "Libstorage-Localdevices"
#define H_TX  "Libstorage-Tx"

/* Fail with "invalid <header> header '<value>': <why>". */
static int hdr_fail(struct err *e, const char *hdr, const char *value, const char *why)
{
	char shown[64];

	name_sanitise(shown, sizeof(shown), value, strlen(value));
	return err_set(e, -EINVAL, "invalid %s header '%s': %s", hdr, shown, why);
}

/* Control bytes and DEL never belong in a header value; a value longer
 * than HEADER_VALUE_MAX is refused before any work is done on it. */
static int hdr_check_raw(const char *hdr, const char *value, struct err *e)
{
	size_t len;

	if (!value)
		return err_set(e, -EINVAL, "invalid %s header: missing value", hdr);
	len = strnlen(value, HEADER_VALUE_MAX + 1);
	if (len > HEADER_VALUE_MAX)
		return hdr_fail(e, hdr, value, "longer than 8192 bytes");
	if (len == 0)
		return hdr_fail(e, hdr, value, "empty value");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c < 0x20 || c == 0x7f)
			return hdr_fail(e, hdr, value, "control character in value");
	}
	return 0;
}

/* ---- percent-encoding (Go's url.QueryEscape / QueryUnescape) ---- */

/*
 * Decode s[0..len) ('+' is a space). Returns a malloc'd string, or NULL
 * with *bad set for a bad escape or a decoded control byte (which could
 * smuggle a NUL or a newline into logs), or *bad clear on OOM.
 */
static char *query_unescape(const char *s, size_t len, bool *bad)
{
	char *out = sys_malloc(len + 1);
	size_t o = 0;

	*bad = false;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			/* two hex digits must follow inside s[0..len) */
			if (len - i < 3 || hex_digit(s[i + 1]) < 0 || hex_digit(s[i + 2]) < 0)
				goto bad;
			c = hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f)
			goto bad;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	*bad = true;
	return NULL;
}

static bool query_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static void query_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (query_unreserved(c))
			fputc(c, f);
		else if (c == ' ')
			fputc('+', f);
		else
			fprintf(f, "%%%02X", c);
	}
}

/* ---- base64 (standard alphabet, padded, as Go's StdEncoding) ---- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64_val(char c)
{
	const char *p = c ? strchr(b64_chars, c) : NULL;

	return p ? (int)(p - b64_chars) : -1;
}

static void b64_encode(FILE *f, const unsigned char *in, size_t len)
{
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		size_t n = len - i < 3 ? len - i : 3;

		if (n > 1)
			v |= (unsigned)in[i + 1] << 8;
		if (n > 2)
			v |= in[i + 2];
		fputc(b64_chars[(v >> 18) & 63], f);
		fputc(b64_chars[(v >> 12) & 63], f);
		fputc(n > 1 ? b64_chars[(v >> 6) & 63] : '=', f);
		fputc(n > 2 ? b64_chars[v & 63] : '=', f);
	}
}

/*
 * Decode padded standard base64. Returns a malloc'd NUL-terminated buffer
 * and its length, or NULL with *bad set for malformed input (*bad clear on
 * OOM). Non-zero trailing bits are refused, as Go's strict decoding does.
 */
static char *b64_decode(const char *s, size_t len, size_t *out_len, bool *bad)
{
	char *out;
	size_t o = 0;

	*bad = true;
	if (len == 0 || len % 4 != 0)
		return NULL;
	*bad = false;
	out = sys_malloc(len / 4 * 3 + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 4) {
		int a = b64_val(s[i]), b = b64_val(s[i + 1]);
		int c = b64_val(s[i + 2]), d = b64_val(s[i + 3]);
		bool last = i + 4 == len;

		if (a < 0 || b < 0)
			goto bad;
		out[o++] = (char)(a << 2 | b >> 4);
		if (last && s[i + 2] == '=' && s[i + 3] == '=') {
			if (b & 15)
				goto bad;
			break;
		}
		if (c < 0)
			goto bad;
		out[o++] = (char)((b & 15) << 4 | c >> 2);
		if (last && s[i + 3] == '=') {
			if (c & 3)
				goto bad;
			break;
		}
		if (d < 0)
			goto bad;
		out[o++] = (char)((c & 3) << 6 | d);
	}
	out[o] = '\0';
	*out_len = o;
	return out;
bad:
	free(out);
	*bad = true;
	return NULL;
}

/* ---- Libstorage-Instanceid ---- */

static char *strndup_or_fail(const char *s, size_t n, bool *ok)
{
	char *d = strndup(s, n);

	if (!d)
		*ok = false;
	return d;
}

/* "DRIVER[:SERVICE]" */
static int iid_parse_driver(const char *value, const char *s, size_t len, struct instance_id *out,
			    struct err *e)
{
	const char *colon = memchr(s, ':', len);
	bool ok = true;

	if (len == 0 || colon == s)
		return hdr_fail(e, H_IID, value, "empty driver name");
	if (colon && colon == s + len - 1)
		return hdr_fail(e, H_IID, value, "empty service name after ':'");
	if (colon) {
		out->driver = strndup_or_fail(s, (size_t)(colon - s), &ok);
		out->service = strndup_or_fail(colon + 1, len - (size_t)(colon - s) - 1, &ok);
	} else {
		out->driver = strndup_or_fail(s, len, &ok);
	}
	return ok ? 0 : err_set(e, -ENOMEM, "out of memory");
}

/* Take one k=v pair of FIELDS into obj; the first of a repeated key wins
 * as with Go's url.Values.Get. */
static int iid_parse_pair(const char *value, const char *p, size_t n, json_t *obj, struct err *e)
{
	const char *eq = memchr(p, '=', n);
	size_t klen = eq ? (size_t)(eq - p) : n;
	char *k, *v = NULL;
	bool bad = false;
	int r = 0;

	k = query_unescape(p, klen, &bad);
	if (k && eq)
		v = query_unescape(eq + 1, n - klen - 1, &bad);
	else if (k)
		v = sys_strdup("");
	if (!k || !v) {
		r = bad ? hdr_fail(e, H_IID, value, "bad %-escape or control character in fields")
			: err_set(e, -ENOMEM, "out of memory");
		goto out;
	}
	if (json_object_get(obj, k))
		goto out;
	if (json_object_set_new(obj, k, json_string(v)) < 0)
		r = hdr_fail(e, H_IID, value, "fields are not valid UTF-8");
out:
	free(k);
	free(v);
	return r;
}

static int iid_parse_fields(const char *value, const char *s, size_t len, struct instance_id *out,
			    struct err *e)
{
	const char *end = s + len;
	int r;

	if (len == 0)
		return 0;
	out->fields = json_object();
	if (!out->fields)
		return err_set(e, -ENOMEM, "out of memory");
	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		size_t n = amp ? (size_t)(amp - s) : (size_t)(end - s);

		/* empty pairs ("a=1&&b=2") are skipped, as Go does */
		if (n > 0) {
			r = iid_parse_pair(value, s, n, out->fields, e);
			if (r < 0)
				return r;
		}
		s += n + (amp ? 1 : 0);
	}
	return 0;
}

static int iid_parse_metadata(const char *value, const char *s, size_t len, struct instance_id *out,
			      struct err *e)
{
	json_error_t jerr;
	size_t n = 0;
	bool bad = false;
	json_t *j;
	char *raw;

	if (len == 0)
		return 0;
	raw = b64_decode(s, len, &n, &bad);
	if (!raw)
		return bad ? hdr_fail(e, H_IID, value, "metadata is not valid base64")
			   : err_set(e, -ENOMEM, "out of memory");
	j = json_parse_text(raw, n, JSON_DECODE_ANY, &jerr);
	if (!j && json_load_oom(&jerr)) {
		free(raw);
		return err_set(e, -ENOMEM, "out of memory");
	}
	if (!j || strlen(raw) != n) {
		json_decref(j);
		free(raw);
		return hdr_fail(e, H_IID, value, "metadata is not JSON");
	}
	json_decref(j);
	out->metadata = raw;
	return 0;
}

/*
 * DRIVER[:SERVICE]=ID[,FIELDS[,METADATA]]: the ID runs to the first
 * comma, FIELDS to the second, METADATA is the rest (the Go regex
 * ^([^=]+)=([^,]*)(?:,(.*?))?(?:,(.+))?$ splits the same way).
 */
static int iid_parse_parts(const char *value, struct instance_id *out, struct err *e)
{
	const char *eq = strchr(value, '=');
	const char *id, *c1, *c2;
	int r;

	if (!eq)
		return hdr_fail(e, H_IID, value, "missing '='");
	r = iid_parse_driver(value, value, (size_t)(eq - value), out, e);
	if (r < 0)
		return r;
	id = eq + 1;
	c1 = strchr(id, ',');
	out->id = strndup(id, c1 ? (size_t)(c1 - id) : strlen(id));
	if (!out->id)
		return err_set(e, -ENOMEM, "out of memory");
	/* the id is stored and sent back in JSON: it must be UTF-8 */
	{
		json_t *probe = json_string(out->id);
		if (!probe)
			return hdr_fail(e, H_IID, value, "the instance id is not valid UTF-8");
		json_decref(probe);
	}
	if (!c1)
		return 0;
	c2 = strchr(c1 + 1, ',');
	r = iid_parse_fields(value, c1 + 1, c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1), out, e);
	if (r < 0 || !c2)
		return r;
	return iid_parse_metadata(value, c2 + 1, strlen(c2 + 1), out, e);
}

int iid_header_parse(const char *value, struct instance_id *out, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = hdr_check_raw(H_IID, value, e);
	if (r < 0)
		return r;
	r = iid_parse_parts(value, out, e);
	if (r < 0)
		instance_id_release(out);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* FIELDS as Go's url.Values.Encode writes them: keys sorted, escaped. */
static int iid_format_fields(FILE *f, const json_t *fields)
{
	size_t n = 0, cap = json_object_size(fields);
	const char **keys;
	const char *k;
	json_t *v;

	if (cap == 0)
		return 0;
	keys = sys_malloc(cap * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	json_object_foreach ((json_t *)fields, k, v) {
		if (json_is_string(v))
			keys[n++] = k;
	}
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputc('&', f);
		query_escape(f, keys[i]);
		fputc('=', f);
		query_escape(f, json_string_value(json_object_get(fields, keys[i])));
	}
	free(keys);
	return 0;
}

/* Close the memstream and hand out its buffer, or NULL if anything
 * failed. *bufp is only valid once the stream is closed. */
static char *memstream_finish(FILE *f, char **bufp, bool ok)
{
	if (ferror(f))
		ok = false;
	if (fclose(f) != 0)
		ok = false;
	if (!ok) {
		free(*bufp);
		return NULL;
	}
	return *bufp;
}

char *iid_header_format(const struct instance_id *iid)
{
	bool has_fields = iid->fields && json_object_size(iid->fields) > 0;
	bool has_meta = iid->metadata && *iid->metadata;
	size_t len = 0;
	char *buf = NULL;
	bool ok = true;
	FILE *f;

	f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fputs(iid->driver ? iid->driver : "", f);
	if (iid->service && *iid->service)
		fprintf(f, ":%s", iid->service);
	fprintf(f, "=%s", iid->id ? iid->id : "");
	if (has_fields || has_meta) {
		fputc(',', f);
		if (has_fields && iid_format_fields(f, iid->fields) < 0)
			ok = false;
	}
	if (has_meta) {
		fputc(',', f);
		b64_encode(f, (const unsigned char *)iid->metadata, strlen(iid->metadata));
	}
	return memstream_finish(f, &buf, ok);
}

/* ---- Libstorage-Localdevices ---- */

static int ld_push(struct local_devices *ld, const char *p, size_t n, const char *value,
		   struct err *e)
{
	const char *sep = memmem(p, n, "::", 2);
	struct local_device *m;
	bool ok = true;

	if (!sep)
		return hdr_fail(e, H_LD, value,
				"an entry lacks the '::' between volume and device");
	if (sep == p)
		return hdr_fail(e, H_LD, value, "an entry has an empty volume ID");
	for (size_t i = 0; i < ld->n; i++) {
		if (strlen(ld->map[i].volume_id) == (size_t)(sep - p) &&
		    memcmp(ld->map[i].volume_id, p, (size_t)(sep - p)) == 0)
			return hdr_fail(e, H_LD, value, "a volume ID is listed twice");
	}
	m = sys_realloc(ld->map, (ld->n + 1) * sizeof(*m));
	if (!m)
		return err_set(e, -ENOMEM, "out of memory");
	ld->map = m;
	m[ld->n].volume_id = strndup_or_fail(p, (size_t)(sep - p), &ok);
	m[ld->n].device = strndup_or_fail(sep + 2, n - (size_t)(sep - p) - 2, &ok);
	ld->n++;
	return ok ? 0 : err_set(e, -ENOMEM, "out of memory");
}

static int ld_parse_parts(const char *value, struct local_devices *out, struct err *e)
{
	const char *eq = strchr(value, '=');
	const char *s, *end;
	int r;

	if (!eq)
		return hdr_fail(e, H_LD, value, "missing '='");
	if (eq == value)
		return hdr_fail(e, H_LD, value, "empty driver name");
	out->driver = strndup(value, (size_t)(eq - value));
	if (!out->driver)
		return err_set(e, -ENOMEM, "out of memory");
	s = eq + 1;
	end = s + strlen(s);
	while (s < end) {
		const char *comma = memchr(s, ',', (size_t)(end - s));
		size_t n = comma ? (size_t)(comma - s) : (size_t)(end - s);

		if (n == 0 || (comma && comma + 1 == end))
			return hdr_fail(e, H_LD, value, "empty entry");
		r = ld_push(out, s, n, value, e);
		if (r < 0)
			return r;
		s += n + (comma ? 1 : 0);
	}
	return 0;
}

int localdevices_header_parse(const char *value, struct local_devices *out, struct err *e)
{
	int r;

	memset(out, 0, sizeof(*out));
	r = hdr_check_raw(H_LD, value, e);
	if (r < 0)
		return r;
	r = ld_parse_parts(value, out, e);
	if (r < 0)
		local_devices_release(out);
	return r;
}

static int cmp_ld(const void *a, const void *b)
{
	const struct local_device *const *x = a, *const *y = b;

	return strcmp((*x)->volume_id ? (*x)->volume_id : "",
		      (*y)->volume_id ? (*y)->volume_id : "");
}

char *localdevices_header_format(const struct local_devices *ld)
{
	const struct local_device **sorted = NULL;
	size_t len = 0;
	char *buf = NULL;
	FILE *f;

	if (ld->n) {
		sorted = sys_malloc(ld->n * sizeof(*sorted));
		if (!sorted)
			return NULL;
		for (size_t i = 0; i < ld->n; i++)
			sorted[i] = &ld->map[i];
		qsort(sorted, ld->n, sizeof(*sorted), cmp_ld);
	}
	f = open_memstream(&buf, &len);
	if (!f) {
		free(sorted);
		return NULL;
	}
	fprintf(f, "%s=", ld->driver ? ld->driver : "");
	for (size_t i = 0; i < ld->n; i++)
		fprintf(f, "%s%s::%s", i ? "," : "",
			sorted[i]->volume_id ? sorted[i]->volume_id : "",
			sorted[i]->device ? sorted[i]->device : "");
	free(sorted);
	return memstream_finish(f, &buf, true);
}

/* ---- Libstorage-Tx ---- */

static bool tx_id_char_ok(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.';
}

static int tx_parse_id(const char *value, const char *v, size_t n, char id[64], struct err *e)
{
	if (n == 0 || n > 63)
		return hdr_fail(e, H_TX, value, "txID must be 1-63 characters");
	for (size_t i = 0; i < n; i++) {
		if (!tx_id_char_ok((unsigned char)v[i]))
			return hdr_fail(e, H_TX, value, "txID may hold only A-Z a-z 0-9 - _ .");
	}
	memcpy(id, v, n);
	id[n] = '\0';
	return 0;
}

static int tx_parse_created(const char *value, const char *v, size_t n, int64_t *created,
			    struct err *e)
{
	int64_t x = 0;

	if (n == 0 || n > 19)
		return hdr_fail(e, H_TX, value, "txCR must be a unix time in seconds");
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return hdr_fail(e, H_TX, value, "txCR must be a unix time in seconds");
		if (x > (INT64_MAX - (v[i] - '0')) / 10)
			return hdr_fail(e, H_TX, value, "txCR is out of range");
		x = x * 10 + (v[i] - '0');
	}
	*created = x;
	return 0;
}

/* One "key=value" element, spaces around it already trimmed. */
static int tx_parse_elem(const char *value, const char *p, size_t n, char id[64], int64_t *created,
			 unsigned *seen, struct err *e)
{
	const char *eq = memchr(p, '=', n);
	size_t klen;

	if (!eq)
		return hdr_fail(e, H_TX, value, "expected key=value");
	klen = (size_t)(eq - p);
	if (klen == 4 && strncasecmp(p, "txID", 4) == 0) {
		if (*seen & 1)
			return hdr_fail(e, H_TX, value, "txID given twice");
		*seen |= 1;
		return tx_parse_id(value, eq + 1, n - klen - 1, id, e);
	}
	if (klen == 4 && strncasecmp(p, "txCR", 4) == 0) {
		if (*seen & 2)
			return hdr_fail(e, H_TX, value, "txCR given twice");
		*seen |= 2;
		return tx_parse_created(value, eq + 1, n - klen - 1, created, e);
	}
	return hdr_fail(e, H_TX, value, "unknown key (expected txID and txCR)");
}

int tx_header_parse(const char *value, char id[64], int64_t *created, struct err *e)
{
	unsigned seen = 0;
	const char *s;
	int r;

	id[0] = '\0';
	*created = 0;
	r = hdr_check_raw(H_TX, value, e);
	if (r < 0)
		return r;
	for (s = value;;) {
		const char *comma = strchr(s, ',');
		const char *end = comma ? comma : s + strlen(s);

		while (s < end && *s == ' ')
			s++;
		while (end > s && end[-1] == ' ')
			end--;
		r = tx_parse_elem(value, s, (size_t)(end - s), id, created, &seen, e);
		if (r < 0)
			goto fail;
		if (!comma)
			break;
		s = comma + 1;
	}
	if (!(seen & 1)) {
		r = hdr_fail(e, H_TX, value, "missing txID");
		goto fail;
	}
	return 0;
fail:
	id[0] = '\0';
	*created = 0;
	return r;
}

char *tx_header_format(const char *id, int64_t created)
{
	char *s = NULL;

	if (asprintf(&s, "txID=%s, txCR=%lld", id ? id : "", (long long)created) < 0)
		return NULL;
	return s;
}

/* ---- uuid ---- */

static bool fill_random(unsigned char *b, size_t n)
{
	size_t got = 0;
	int fd;

	while (got < n) {
		ssize_t r = getrandom(b + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)r;
	}
	if (got == n)
		return true;
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	for (got = 0; got < n;) {
		ssize_t r = read(fd, b + got, n - got);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	return got == n;
}

void uuid_v4(char buf[37])
{
	unsigned char b[16];

	if (!fill_random(b, sizeof(b))) {
		/* No kernel randomness at all: IDs only need to be unlikely to
		 * repeat within one process, so mix the clock and the pid. */
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_REALTIME, &ts);
		x = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^
		    (uint64_t)getpid() << 32;
		for (size_t i = 0; i < sizeof(b); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			b[i] = (unsigned char)x;
		}
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}
