#include "util/names.h"

#include <string.h>

void name_sanitise(char *out, size_t outsz, const char *s, size_t len)
{
	size_t o = 0;

	if (outsz == 0)
		return;
	for (size_t i = 0; i < len && o + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];
		out[o++] = (c >= 0x20 && c < 0x7f && c != '\'') ? (char)c : '?';
	}
	out[o] = '\0';
	if (len > o && outsz > 4)
		memcpy(out + outsz - 4, "...", 4);
}

static bool name_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

static int name_check(const char *what, const char *name, size_t max, struct err *e)
{
	char shown[64];
	size_t len;

	if (!name || !*name)
		return err_set(e, -EINVAL, "%s name is empty", what);
	len = strnlen(name, max + 1);
	name_sanitise(shown, sizeof(shown), name, len);
	if (len > max)
		return err_set(e, -EINVAL, "%s name '%s' is longer than %zu bytes", what, shown, max);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return err_set(e, -EINVAL, "%s name '%s' is not allowed", what, shown);
	for (size_t i = 0; i < len; i++) {
		if (!name_char_ok((unsigned char)name[i]))
			return err_set(e, -EINVAL,
				       "%s name '%s': only letters, digits, '_', '.' and '-' are allowed",
				       what, shown);
	}
	return 0;
}

int volume_name_check(const char *name, struct err *e)
{
	return name_check("volume", name, VOLUME_NAME_MAX, e);
}

int service_name_check(const char *name, struct err *e)
{
	return name_check("service", name, 64, e);
}

int option_value_check(const char *what, const char *value, struct err *e)
{
	char shown[64];

	if (!value)
		return 0;
	for (const char *p = value; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f || strchr("$`;|&<>", c)) {
			name_sanitise(shown, sizeof(shown), value, strlen(value));
			return err_set(e, -EINVAL, "option '%s': value '%s' contains the character "
				       "'%s', which is not allowed", what, shown,
				       c < 0x20 || c == 0x7f ? "\\x.." : (char[]){ (char)c, 0 });
		}
	}
	return 0;
}

int option_values_check(const char *what, const json_t *opts, struct err *e)
{
	const char *key;
	json_t *val;
	int r;

	if (!json_is_object(opts))
		return 0;
	json_object_foreach((json_t *)opts, key, val) {
		char name[128];
		snprintf(name, sizeof(name), "%s.%s", what, key);
		if ((r = option_value_check(name, key, e)) < 0)
			return r;
		if (json_is_string(val) && (r = option_value_check(name, json_string_value(val), e)) < 0)
			return r;
	}
	return 0;
}
