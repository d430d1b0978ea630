/*
 * codec: JSON <-> the structs of api/types.h, with libStorage's exact
 * field names (spec/rexray.md section 3) and jansson.
 *
 * Encoders return a new json_t reference the caller owns (NULL only on
 * OOM). Member order is the original's (Go's declaration order of
 * types.Volume, consistent with libstorage-trace.md): Volume =
 * attachments, attachmentState, availabilityZone, encrypted, iops, name,
 * networkName, size, status, id, type, fields. "name", "id" and "type" are
 * always present; the others are omitted when zero/NULL ("omitempty"),
 * except "attachments" when attachments_present. Members of "fields"
 * objects are written in sorted key order, as Go writes a map.
 * Strings that are not valid UTF-8 are encoded with U+FFFD for each bad
 * byte (as Go does) instead of failing.
 *
 * Decoders validate types and name the offending field in the error:
 * "field 'size': expected an integer, got string". They return 0, -EINVAL
 * for bad input, -ENOMEM. On failure the output struct is left released.
 * Unknown members are ignored (forward compatibility), as Go's decoder does.
 * A decoded "fields" map is a reference to the object in j (shared, not
 * copied): do not change it while j is in use.
 */
#ifndef RR_CODEC_H
#define RR_CODEC_H

#include <jansson.h>

#include "api/jsonw.h"
#include "api/types.h"
#include "util/err.h"

/* Bounds for decoded requests. */
#define CODEC_MAX_SIZE_GB  (1LL << 20) /* 1 PiB in GiB: anything larger is absurd */
#define CODEC_MAX_IOPS	   (1LL << 31)
#define CODEC_MAX_DEPTH	   32	       /* nesting of opts/fields */

json_t *instance_id_to_json(const struct instance_id *iid);
int instance_id_from_json(const json_t *j, struct instance_id *out, struct err *e);

json_t *instance_to_json(const struct instance *in);
int instance_from_json(const json_t *j, struct instance *out, struct err *e);

/* The tree of volume_write's text (one encoder); NULL when out of memory. */
json_t *volume_to_json(const struct volume *v);
int volume_from_json(const json_t *j, struct volume *out, struct err *e);

/*
 * A Volume written at w's position without a tree: with JW_PRETTY |
 * JW_GO_ESCAPES the bytes of json_dump_pretty(volume_to_json(v)), with 0
 * those of json_dumps(volume_to_json(v), JSON_COMPACT | JSON_PRESERVE_ORDER). volume_write_members writes only the members, for
 * a caller that adds its own to the object it opened. Errors are w's
 * (sticky, see jsonw.h).
 */
void volume_write(struct jw *w, const struct volume *v);
void volume_write_members(struct jw *w, const struct volume *v);

/* {"<id>": Volume, ...}; keys in list order. */
json_t *volume_map_to_json(const struct volume_list *l);
/* Appends to *out (which the caller initialised to {0}). */
int volume_map_from_json(const json_t *j, struct volume_list *out, struct err *e);

/* types.Snapshot in Go's member order (description?, encrypted?, name?,
 * id, startTime?, status?, volumeID?, volumeSize?, fields?); the map is
 * {id: Snapshot}. */
void snapshot_write(struct jw *w, const struct snapshot *s);
json_t *snapshot_to_json(const struct snapshot *s);
int snapshot_from_json(const json_t *j, struct snapshot *out, struct err *e);
json_t *snapshot_map_to_json(const struct snapshot_list *l);
int snapshot_map_from_json(const json_t *j, struct snapshot_list *out, struct err *e);

/* The requests: {snapshotName, opts} (snapshotName required; a string
 * opts.description becomes the snapshot's description), {volumeName,
 * opts}, {snapshotName, destinationID, opts} (both required, as
 * libStorage's schema), and ours {size, opts} (size >= 1 GiB). */
json_t *volume_snapshot_req_to_json(const struct volume_snapshot_req *r);
int volume_snapshot_req_from_json(const json_t *j, struct volume_snapshot_req *out,
				  struct err *e);
json_t *volume_copy_req_to_json(const struct volume_copy_req *r);
int volume_copy_req_from_json(const json_t *j, struct volume_copy_req *out, struct err *e);
json_t *snapshot_copy_req_to_json(const struct snapshot_copy_req *r);
int snapshot_copy_req_from_json(const json_t *j, struct snapshot_copy_req *out, struct err *e);
json_t *volume_resize_req_to_json(const struct volume_resize_req *r);
int volume_resize_req_from_json(const json_t *j, struct volume_resize_req *out, struct err *e);

json_t *service_info_to_json(const struct service_info *s);
int service_info_from_json(const json_t *j, struct service_info *out, struct err *e);

/* {"<name>": ServiceInfo, ...} */
json_t *service_map_to_json(const struct service_list *l);
int service_map_from_json(const json_t *j, struct service_list *out, struct err *e);

/*
 * Requests. name is required for create; size and iops must be
 * non-negative integers within the bounds above; opts must be an object.
 * Booleans must be JSON booleans.
 */
json_t *volume_create_req_to_json(const struct volume_create_req *r);
int volume_create_req_from_json(const json_t *j, struct volume_create_req *out, struct err *e);

json_t *volume_attach_req_to_json(const struct volume_attach_req *r);
int volume_attach_req_from_json(const json_t *j, struct volume_attach_req *out, struct err *e);

json_t *volume_detach_req_to_json(const struct volume_detach_req *r);
int volume_detach_req_from_json(const json_t *j, struct volume_detach_req *out, struct err *e);

/* {"volume": Volume, "attachToken": "..."} as the server answers an attach
 * (that order, as in the trace). token NULL is written as "". out_token may
 * be NULL when the caller does not want it; a missing token decodes as NULL. */
json_t *attach_reply_to_json(const struct volume *v, const char *token);
int attach_reply_from_json(const json_t *j, struct volume *out_v, char **out_token,
			   struct err *e);

/* Error body {"message": m, "status": s, "error": {...}}; inner may be NULL. */
json_t *error_body_to_json(const char *message, int status, json_t *inner_stolen);
/* Extract message and status from an error body; tolerant of junk:
 * fills msg with whatever text is there (or the raw body, trimmed, control
 * bytes blanked; "" for an empty body). *status is 0 when the body has
 * none; status may be NULL. */
void error_body_parse(const char *body, size_t len, char *msg, size_t msgsz, int *status);

/*
 * Parse a whole request body: at most max_len bytes (else -E2BIG), valid
 * UTF-8 JSON (else -EINVAL naming line/column), an object at the top (else
 * -EINVAL), nesting at most CODEC_MAX_DEPTH (else -EINVAL). An empty body
 * is {}. Returns 0 and a new reference in *out.
 */
int json_body_parse(const char *body, size_t len, size_t max_len, json_t **out, struct err *e);
/*
 * The quick way through a small body of string members (a Docker plugin
 * call's {"Name": ...}), without a tree (api/jsonr.h): when body is empty,
 * or an object whose members are all among keys[0..n) (n <= 32), each at
 * most once, with a string or null value, vals[i] gets key i's string
 * (NULL: absent or null), decoded into buf (bufsz bytes; the strings are
 * NUL-terminated there), and true is returned. false (vals all NULL) for
 * anything else: another member, a value of another type, a text that is
 * not JSON, strings that do not fit in buf. The caller then takes the
 * general way, json_body_parse, which also words any error. A body it
 * takes, json_body_parse takes too, with the same strings. Allocates only
 * for a string with escapes.
 */
bool json_body_strings(const char *body, size_t len, const char *const keys[], size_t n,
		       const char *vals[], char *buf, size_t bufsz);

/*
 * Volume and the volume map straight from the text, without a tree: the
 * decoders the client uses for GET /volumes/{svc}[/{id}]. They give what
 * volume_from_json / volume_map_from_json give for the same text, or
 * decline: -EINVAL (e says why) for a text that is not JSON, fails the
 * decoder's checks, or is unusual (a member given twice; map keys not in
 * ascending byte order, the order both servers write), -ENOMEM. The caller
 * then decodes the text the tree's way (json_loadb and the decoder above),
 * which also words any error as before. volume_map_from_text appends to
 * *out; on failure *out is released, as with volume_map_from_json.
 */
int volume_from_text(const char *text, size_t len, struct volume *out, struct err *e);
int volume_map_from_text(const char *text, size_t len, struct volume_list *out, struct err *e);

/* json_loadb, but a failure is confirmed by a second parse: jansson
 * reports an allocation that failed mid-text as a syntax error, and the
 * sender must not be told its text is wrong when it is not. */
json_t *json_parse_text(const char *text, size_t len, size_t flags, json_error_t *jerr);
/* Did json_parse_text fail for want of memory, not for the text? (Then it
 * is the server's 500, never the sender's 400.) */
bool json_load_oom(const json_error_t *jerr);

/*
 * Serialise for the wire: 2-space indented as the original server does,
 * no trailing newline (the trace's Content-Length counts none). Strings
 * are escaped as Go's encoding/json escapes them (<, >, & as \u003c
 * \u003e \u0026, U+2028/U+2029, \u0008 \u000c, lower-case hex), so the
 * bytes match the original. Returns a malloc'd string, NULL on OOM.
 */
char *json_dump_pretty(const json_t *j);

/* The same on one line without spaces, as Go's json.Marshal writes a
 * request body: {"name":"tr1","size":2}. */
char *json_dump_compact(const json_t *j);

#endif
