/*
 * headers: the three libStorage header grammars (spec/rexray.md section 3).
 *
 *   Libstorage-Instanceid:  DRIVER[:SERVICE]=ID[,FIELDS[,METADATA]]
 *       FIELDS = URL-encoded k=v&k2=v2; METADATA = standard base64 of JSON.
 *       e.g. "vfs:vfs=vm", "vfs=,,InZtIg==", "ebs=i-1,availabilityZone=us-west-2a&region=r"
 *   Libstorage-Localdevices: DRIVER=VOLID::DEV[,VOLID::DEV]
 *       e.g. "vfs=/dev/xvda::,/dev/xvdb::" (empty devices), "ebs=vol-1::/dev/xvdf"
 *   Libstorage-Tx: txID=<uuid>, txCR=<unix epoch>
 *
 * Parsers are strict: empty driver, a bad base64 or a metadata that is not
 * JSON, a bad percent-escape, control bytes, or a value over 8 KiB are
 * -EINVAL with a message naming the header and what was wrong. On failure
 * the output is left released. Formatters return malloc'd strings (NULL on
 * OOM) that round-trip through the parsers.
 */
#ifndef RR_HEADERS_H
#define RR_HEADERS_H

#include <stdint.h>

#include "api/types.h"
#include "util/err.h"

#define HEADER_VALUE_MAX 8192

int iid_header_parse(const char *value, struct instance_id *out, struct err *e);
char *iid_header_format(const struct instance_id *iid);

int localdevices_header_parse(const char *value, struct local_devices *out, struct err *e);
char *localdevices_header_format(const struct local_devices *ld);

/* id must hold at least 64 bytes. txCR may be absent (then *created = 0). */
int tx_header_parse(const char *value, char id[64], int64_t *created, struct err *e);
char *tx_header_format(const char *id, int64_t created);

/* A random RFC 4122 v4 UUID into buf (at least 37 bytes). */
void uuid_v4(char buf[37]);

#endif
