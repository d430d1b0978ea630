#include "util/version.h"

#include <stdio.h>
#include <sys/utsname.h>

#ifndef RR_COMMIT
#define RR_COMMIT "unknown"
#endif
#ifndef RR_BRANCH
#define RR_BRANCH "unknown"
#endif
#ifndef RR_FORMED
#define RR_FORMED "unknown"
#endif

const char *version_commit(void)
{
	return RR_COMMIT;
}

const char *version_branch(void)
{
	return RR_BRANCH;
}

const char *version_formed(void)
{
	return RR_FORMED;
}

const char *version_osarch(void)
{
	static _Thread_local char buf[160];
	struct utsname u;

	if (uname(&u) < 0)
		return "Linux-unknown";
	snprintf(buf, sizeof(buf), "%s-%s", u.sysname, u.machine);
	return buf;
}

json_t *version_to_json(void)
{
	struct utsname u;
	const char *arch = "unknown";

	if (uname(&u) == 0)
		arch = u.machine;
	return json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:i, s:s, s:s}",
			 "semver", RR_SEMVER, "os", "linux", "arch", arch, "branch", RR_BRANCH,
			 "major", RR_VERSION_MAJOR, "minor", RR_VERSION_MINOR, "patch",
			 RR_VERSION_PATCH, "notes", "", "build", 0, "commit", RR_COMMIT,
			 "buildTimestamp", RR_FORMED);
}
