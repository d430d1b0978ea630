#include "util/secret.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fs.h"

int secret_read(const char *value, const char *what, size_t max, unsigned char **ret,
		size_t *ret_len, struct err *e)
{
	struct stat st;
	char *buf = NULL;
	size_t len;
	int r;

	if (!value || !*value)
		return err_set(e, -EINVAL, "%s is empty", what);
	if (stat(value, &st) < 0 || !S_ISREG(st.st_mode)) {
		len = strlen(value);
		buf = malloc(len + 1);
		if (!buf)
			return err_set(e, -ENOMEM, "out of memory");
		memcpy(buf, value, len + 1);
	} else {
		r = fs_read_file(value, max, &buf, &len);
		if (r == -EFBIG)
			return err_set(e, r, "%s: '%s' is larger than %zu bytes", what, value,
				       max);
		if (r < 0)
			return err_set(e, r, "%s: cannot read '%s': %s", what, value,
				       strerror(-r));
		/* an editor's final newline is not part of the secret */
		while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
			       buf[len - 1] == ' ' || buf[len - 1] == '\t'))
			buf[--len] = '\0';
		if (!len) {
			free(buf);
			return err_set(e, -EINVAL, "%s: '%s' is empty", what, value);
		}
	}
	*ret = (unsigned char *)buf;
	*ret_len = len;
	return 0;
}

void secret_free(void *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

void secret_free_str(char *s)
{
	if (s)
		secret_free(s, strlen(s));
}
