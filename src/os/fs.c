/*
 * osfs: probe, mkfs, mount and the mount table (see fs.h).
 */
#include "os/fs.h"

#include <blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/sysmacros.h>

#include "os/run.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/time.h"
#include "util/sys.h"

#define XFS_LABEL_MAX	12
#define EXT4_LABEL_MAX	16
#define MOUNT_DATA_MAX	4096

/* ---- probe ---------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Signatures that mean "someone's data in another layer": never mkfs over them. */
static const char *foreign_kind(const char *type, const char *usage)
{
	if (strcmp(type, "crypto_LUKS") == 0)
		return "a LUKS container";
	if (strcmp(type, "LVM2_member") == 0 || strcmp(type, "LVM1_member") == 0)
		return "an LVM physical volume";
	if (ends_with(type, "_raid_member") || (usage && strcmp(usage, "raid") == 0))
		return "a RAID member";
	if (usage && strcmp(usage, "crypto") == 0)
		return "an encrypted container";
	return NULL;
}

static const char *probe_value(blkid_probe pr, const char *name)
{
	const char *val = NULL;

	if (blkid_probe_lookup_value(pr, name, &val, NULL) < 0)
		return NULL;
	return val;
}

int osfs_probe(const char *dev, char *type, size_t typesz, struct err *e)
{
	const char *val, *kind;
	blkid_probe pr;
	int r;

	if (!dev || !*dev || !type || typesz == 0)
		return err_set(e, -EINVAL, "probe: bad arguments");
	type[0] = '\0';
	errno = 0;
	pr = blkid_new_probe_from_filename(dev);
	if (!pr) {
		r = errno ? -errno : -EIO;
		return err_set(e, r, "probe '%s': %s", dev, strerror(-r));
	}
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_USAGE |
					      BLKID_SUBLKS_UUID);
	blkid_probe_enable_partitions(pr, 1);

	r = blkid_do_safeprobe(pr);
	if (r == 1) {
		r = 0; /* nothing there */
		goto out;
	}
	if (r == -2) {
		r = err_set(e, -EINVAL, "'%s' holds several filesystem signatures; refusing it",
			    dev);
		goto out;
	}
	if (r < 0) {
		r = err_set(e, -EIO, "probe '%s': libblkid failed", dev);
		goto out;
	}
	val = probe_value(pr, "PTTYPE");
	if (val) {
		r = err_set(e, -EINVAL, "'%s' holds a partition table (%s); refusing it", dev, val);
		goto out;
	}
	val = probe_value(pr, "TYPE");
	if (!val) {
		r = err_set(e, -EINVAL, "'%s' holds an unrecognised signature; refusing it", dev);
		goto out;
	}
	kind = foreign_kind(val, probe_value(pr, "USAGE"));
	if (kind) {
		r = err_set(e, -EINVAL, "'%s' is %s (%s); refusing it", dev, kind, val);
		goto out;
	}
	if (strlen(val) >= typesz) {
		r = err_set(e, -ERANGE, "probe '%s': type '%s' too long", dev, val);
		goto out;
	}
	strcpy(type, val);
	r = 0;
out:
	blkid_free_probe(pr);
	return r;
}

/* ---- mkfs ----------------------------------------------------------- */

bool osfs_supported(const char *fstype)
{
	return fstype && (strcmp(fstype, "ext4") == 0 || strcmp(fstype, "xfs") == 0);
}

/* What mkfs and fsck are given: a supported type, and an absolute device
 * path (an argument starting with '-' would be read as an option). */
static int tool_args_check(const char *what, const char *dev, const char *fstype,
			   struct err *e)
{
	if (!osfs_supported(fstype))
		return err_set(e, -EINVAL, "unsupported filesystem type '%s' (ext4, xfs)",
			       fstype ? fstype : "");
	if (!dev || dev[0] != '/')
		return err_set(e, -EINVAL, "%s: device '%s' is not an absolute path", what,
			       dev ? dev : "");
	return 0;
}

int osfs_has_data(const char *dev, bool *has, struct err *e)
{
	enum { SPAN = 1 << 20, CHUNK = 64 << 10 };
	static const char zero[CHUNK];
	char *buf = malloc(CHUNK);
	int fd, r = 0;

	*has = false;
	if (!buf)
		return err_set(e, -ENOMEM, "out of memory");
	fd = sys_open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = err_set(e, -errno, "open '%s': %s", dev, strerror(errno));
		goto out;
	}
	for (off_t off = 0; off < SPAN && !*has; off += CHUNK) {
		ssize_t n = pread(fd, buf, CHUNK, off);
		if (n < 0) {
			r = err_set(e, -errno, "read '%s': %s", dev, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		*has = memcmp(buf, zero, (size_t)n) != 0;
	}
	close(fd);
out:
	free(buf);
	return r;
}

/*
 * ext4 marked clean (EXT2_VALID_FS set, EXT2_ERROR_FS not) with no journal
 * to replay: "e2fsck -p" would only read this and exit 0, so the ~4 ms of
 * starting it are saved. Anything else, or a superblock that cannot be
 * read, goes to e2fsck.
 */
/* The ext4 superblock (1024 bytes at offset 1024) into sb. */
static bool ext4_superblock(const char *dev, unsigned char sb[1024])
{
	int fd = sys_open(dev, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = pread(fd, sb, 1024, 1024);
	close(fd);
	return n == 1024 && sb[0x38] == 0x53 && sb[0x39] == 0xEF;
}

static unsigned long long le32_at(const unsigned char *p)
{
	return p[0] | (unsigned long long)p[1] << 8 | (unsigned long long)p[2] << 16 |
	       (unsigned long long)p[3] << 24;
}

static unsigned long long be_at(const unsigned char *p, int n)
{
	unsigned long long v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static bool ext4_marked_clean(const char *dev)
{
	unsigned char sb[1024];
	unsigned state, incompat;

	if (!ext4_superblock(dev, sb))
		return false;
	state = sb[0x3A] | (unsigned)sb[0x3B] << 8;
	incompat = sb[0x60] | (unsigned)sb[0x61] << 8 | (unsigned)sb[0x62] << 16 |
		   (unsigned)sb[0x63] << 24;
	return (state & 0x1) && !(state & 0x2) && !(incompat & 0x4 /* RECOVER */);
}

int osfs_fs_size(const char *dev, const char *fstype, unsigned long long *bytes, struct err *e)
{
	unsigned char sb[1024];
	int fd;
	ssize_t n;

	*bytes = 0;
	if (fstype && strcmp(fstype, "ext4") == 0) {
		unsigned long long blocks;
		unsigned log;

		if (!ext4_superblock(dev, sb))
			return err_set(e, -EIO, "%s: no ext4 superblock", dev);
		blocks = le32_at(sb + 0x04);
		if (le32_at(sb + 0x60) & 0x80) /* INCOMPAT_64BIT */
			blocks |= le32_at(sb + 0x150) << 32;
		log = (unsigned)le32_at(sb + 0x18);
		if (log > 6)
			return err_set(e, -EIO, "%s: bad ext4 block size", dev);
		*bytes = blocks * (1024ULL << log);
		return 0;
	}
	if (fstype && strcmp(fstype, "xfs") == 0) {
		if ((fd = sys_open(dev, O_RDONLY | O_CLOEXEC)) < 0)
			return err_set(e, -errno, "cannot open '%s': %s", dev, strerror(errno));
		n = pread(fd, sb, 16, 0);
		close(fd);
		if (n != 16 || memcmp(sb, "XFSB", 4) != 0)
			return err_set(e, -EIO, "%s: no xfs superblock", dev);
		*bytes = be_at(sb + 8, 8) * be_at(sb + 4, 4); /* sb_dblocks * sb_blocksize */
		return 0;
	}
	return err_set(e, -ENOTSUP, "%s: cannot tell the size of a '%s' filesystem", dev,
		       fstype ? fstype : "");
}

int osfs_grow_offline(const char *dev, const char *fstype, long timeout_ms, struct err *e)
{
	const char *fsck[5] = { "e2fsck", "-f", "-p", dev, NULL };
	const char *resize[3] = { "resize2fs", dev, NULL };
	int code, r;

	if (!fstype || strcmp(fstype, "ext4") != 0)
		return err_set(e, -ENOTSUP, "grow %s: a '%s' filesystem grows only mounted", dev,
			       fstype ? fstype : "");
	/* resize2fs wants a full check since the last mount: e2fsck -f -p,
	 * whose 1 and 2 mean "corrected" */
	r = run_command_exit(fsck, timeout_ms, &code, e);
	if (r < 0 && !(code == 1 || code == 2))
		return err_prefix(e, "grow %s: the check before it failed", dev);
	err_clear(e);
	if ((r = run_command(resize, timeout_ms, e)) < 0)
		return err_prefix(e, "grow %s", dev);
	log_debug("fs: grew %s (ext4) offline", dev);
	return 0;
}

int osfs_check(const char *dev, const char *fstype, long timeout_ms, const char *repair_file,
	       struct err *e)
{
	bool ext4 = fstype && strcmp(fstype, "ext4") == 0;
	const char *argv[4] = { ext4 ? "e2fsck" : "xfs_repair", ext4 ? "-p" : "-n", dev, NULL };
	char cmd[PATH_MAX + 32];
	int code, r;

	if ((r = tool_args_check("check", dev, fstype, e)) < 0)
		return r;
	if (ext4 && ext4_marked_clean(dev))
		return 0;
	r = run_command_exit(argv, timeout_ms, &code, e);
	if (r == 0 || code < 0)
		return r;
	/* e2fsck: 1 = errors corrected, 2 = corrected, reboot advised (for a
	 * root filesystem; not ours). xfs_repair -n: 2, or an ALERT that it
	 * ignored "valuable metadata changes in a log" (xfsprogs 6.1 then
	 * reports the spurious inconsistencies with 1) = a dirty log, as an
	 * unclean shutdown or a fence leaves it: the kernel replays it at
	 * the mount, which is XFS' own recovery. */
	if ((ext4 && (code == 1 || code == 2)) ||
	    (!ext4 && (code == 2 || strstr(e->msg, "metadata changes in a log")))) {
		log_warn("osfs: %s on %s: %s", argv[0], dev, e->msg);
		err_clear(e);
		return 0;
	}
	osfs_repair_command(fstype, dev, repair_file, cmd, sizeof(cmd));
	if (ext4)
		return err_set(e, -EUCLEAN, "the ext4 filesystem on '%s' has errors that e2fsck -p "
			       "cannot repair unattended (e2fsck exit status %d); not mounting it "
			       "read-write. Repair it by hand: %s", dev, code, cmd);
	return err_set(e, -EUCLEAN, "the xfs filesystem on '%s' is damaged (xfs_repair -n exit "
		       "status %d); not mounting it read-write. Repair it by hand: %s", dev, code,
		       cmd);
}

void osfs_repair_command(const char *fstype, const char *dev, const char *repair_file,
			 char *buf, size_t sz)
{
	bool file = repair_file && *repair_file;

	if (fstype && strcmp(fstype, "xfs") == 0)
		snprintf(buf, sz, "xfs_repair%s %s", file ? " -f" : "", file ? repair_file : dev);
	else
		snprintf(buf, sz, "e2fsck -f %s", file ? repair_file : dev);
}

int osfs_format(const char *dev, const char *fstype, const char *label, long timeout_ms,
		struct err *e)
{
	const char *argv[12];
	char cut[EXT4_LABEL_MAX + 1];
	size_t n = 0;
	int r;

	if ((r = tool_args_check("format", dev, fstype, e)) < 0)
		return r;
	if (label && *label) {
		size_t max = strcmp(fstype, "xfs") == 0 ? XFS_LABEL_MAX : EXT4_LABEL_MAX;

		snprintf(cut, max + 1, "%s", label);
		label = cut;
	}
	if (strcmp(fstype, "ext4") == 0) {
		argv[n++] = "mkfs.ext4";
		argv[n++] = "-q";
		argv[n++] = "-F";
		argv[n++] = "-m";
		argv[n++] = "0";
		argv[n++] = "-E";
		argv[n++] = "lazy_itable_init=1,lazy_journal_init=1";
	} else {
		argv[n++] = "mkfs.xfs";
		argv[n++] = "-q";
		argv[n++] = "-f";
	}
	if (label && *label) {
		argv[n++] = "-L";
		argv[n++] = label;
	}
	argv[n++] = dev;
	argv[n] = NULL;

	/* mkfs opens the device O_EXCL: another process's live check (an
	 * exclusive open for a moment, os/loopdev.c blockdev_in_use) makes
	 * it fail with EBUSY; a few short retries outlast that. A device
	 * mounted anywhere stays busy and still fails. */
	for (int tries = 0;; tries++) {
		r = run_command(argv, timeout_ms, e);
		if (r == 0 || tries == 4 || !strstr(e->msg, "Device or resource busy"))
			break;
		err_clear(e);
		time_sleep_ms(20);
	}
	if (r < 0)
		return err_prefix(e, "format '%s' as %s", dev, fstype);
	log_debug("osfs: formatted %s as %s", dev, fstype);
	return 0;
}

/* ---- mount ---------------------------------------------------------- */

/* Per-mount options the kernel wants as flags, not in the fs data string. */
static const struct {
	const char *name;
	unsigned long set, clear;
} mount_flag_opts[] = {
	{ "defaults", 0, 0 },
	{ "ro", MS_RDONLY, 0 },
	{ "rw", 0, MS_RDONLY },
	{ "nosuid", MS_NOSUID, 0 },
	{ "suid", 0, MS_NOSUID },
	{ "nodev", MS_NODEV, 0 },
	{ "dev", 0, MS_NODEV },
	{ "noexec", MS_NOEXEC, 0 },
	{ "exec", 0, MS_NOEXEC },
	{ "sync", MS_SYNCHRONOUS, 0 },
	{ "async", 0, MS_SYNCHRONOUS },
	{ "dirsync", MS_DIRSYNC, 0 },
	{ "noatime", MS_NOATIME, MS_RELATIME | MS_STRICTATIME },
	{ "atime", 0, MS_NOATIME },
	{ "nodiratime", MS_NODIRATIME, 0 },
	{ "diratime", 0, MS_NODIRATIME },
	{ "relatime", MS_RELATIME, MS_NOATIME | MS_STRICTATIME },
	{ "strictatime", MS_STRICTATIME, MS_NOATIME | MS_RELATIME },
	{ "lazytime", MS_LAZYTIME, 0 },
	{ "nolazytime", 0, MS_LAZYTIME },
};

static bool mount_flag_opt(const char *opt, unsigned long *flags)
{
	for (size_t i = 0; i < sizeof(mount_flag_opts) / sizeof(mount_flag_opts[0]); i++) {
		if (strcmp(opt, mount_flag_opts[i].name) == 0) {
			*flags &= ~mount_flag_opts[i].clear;
			*flags |= mount_flag_opts[i].set;
			return true;
		}
	}
	return false;
}

static int data_append(char *data, size_t size, const char *opt)
{
	size_t len = strlen(data), n = strlen(opt);

	if (len + (len ? 1 : 0) + n >= size)
		return -E2BIG;
	if (len)
		data[len++] = ',';
	memcpy(data + len, opt, n + 1);
	return 0;
}

/*
 * Split "ro,noatime,discard" into mount flags and the fs data string.
 * Options that are not generic flags go to the filesystem untouched.
 */
static int split_options(const char *fstype, const char *options, unsigned long *flags,
			 char *data, size_t size)
{
	char *copy, *save = NULL;
	int r = 0;

	(void)fstype;
	*flags = 0;
	data[0] = '\0';
	/* never "nouuid" for xfs: its refusal to mount one filesystem twice
	 * is a last guard against two live filesystems on one image (a clone
	 * gets a UUID of its own instead) */
	if (!options || !*options)
		return 0;
	copy = strdup(options);
	if (!copy)
		return -ENOMEM;
	for (char *opt = strtok_r(copy, ",", &save); opt && r == 0;
	     opt = strtok_r(NULL, ",", &save)) {
		if (strcmp(opt, "nouuid") == 0)
			r = -EPERM;
		else if (!mount_flag_opt(opt, flags))
			r = data_append(data, size, opt);
	}
	free(copy);
	return r;
}

int osfs_mount(const char *dev, const char *target, const char *fstype, const char *options,
	       struct err *e)
{
	char probed[64], data[MOUNT_DATA_MAX];
	unsigned long flags;
	int r;

	if (!dev || !*dev || !target || !*target)
		return err_set(e, -EINVAL, "mount: empty device or target");
	if (!fstype || !*fstype) {
		r = osfs_probe(dev, probed, sizeof(probed), e);
		if (r < 0)
			return err_prefix(e, "mount '%s' on '%s'", dev, target);
		if (!probed[0])
			return err_set(e, -EINVAL, "mount '%s' on '%s': no filesystem on it",
				       dev, target);
		fstype = probed;
	}
	r = split_options(fstype, options, &flags, data, sizeof(data));
	if (r < 0)
		return err_set(e, r, "mount '%s' on '%s': options '%s': %s", dev, target,
			       options ? options : "", strerror(-r));
	if (sys_mount(dev, target, fstype, flags, data[0] ? data : NULL) < 0)
		return err_set(e, -errno, "mount '%s' on '%s' (%s%s%s): %s", dev, target, fstype,
			       data[0] ? ", " : "", data, strerror(errno));
	log_debug("osfs: mounted %s on %s (%s)", dev, target, fstype);
	return 0;
}

int osfs_bind(const char *src, const char *target, struct err *e)
{
	if (!src || !*src || !target || !*target)
		return err_set(e, -EINVAL, "bind mount: empty source or target");
	if (sys_mount(src, target, NULL, MS_BIND, NULL) < 0)
		return err_set(e, -errno, "bind mount '%s' on '%s': %s", src, target,
			       strerror(errno));
	log_debug("osfs: bound %s on %s", src, target);
	return 0;
}

int osfs_unmount(const char *target, struct err *e)
{
	if (!target || !*target)
		return err_set(e, -EINVAL, "unmount: empty target");
	/* a look-up (statx of a List) can hold the mount for an instant: retry
	 * a brief EBUSY, as containerd does, before calling it busy */
	for (int tries = 0; sys_umount2(target, UMOUNT_NOFOLLOW) < 0; tries++) {
		if (errno == EBUSY && tries < 50) {
			time_sleep_ms(20);
			continue;
		}
		if (errno == EINVAL)
			return err_set(e, -EINVAL, "unmount '%s': not a mount point", target);
		return err_set(e, -errno, "unmount '%s': %s", target, strerror(errno));
	}
	log_debug("osfs: unmounted %s", target);
	return 0;
}

/* ---- fencing ---- */

/* _IOR('X', 125, __u32): EXT4_IOC_SHUTDOWN, XFS_IOC_GOINGDOWN and
 * BTRFS_IOC_SHUTDOWN are this one number, with the same flags. */
#define FS_SHUTDOWN_IOC		_IOR('X', 125, uint32_t)
#define FS_SHUTDOWN_LOGFLUSH	0x1
#define EXT4_MAGIC		0xEF53
#define XFS_MAGIC		0x58465342
#define BTRFS_MAGIC		0x9123683E

int osfs_shutdown(const char *target, struct err *e)
{
	uint32_t flags = FS_SHUTDOWN_LOGFLUSH;
	struct statfs sf;
	int fd, r = 0;

	fd = sys_open(target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, "fence: open %s: %s", target, strerror(errno));
	if (fstatfs(fd, &sf) == 0 && sf.f_type != EXT4_MAGIC && sf.f_type != XFS_MAGIC &&
	    sf.f_type != BTRFS_MAGIC)
		r = err_set(e, -ENOTSUP, "fence: the filesystem at %s (type 0x%lx) has no "
			    "shutdown", target, (unsigned long)sf.f_type);
	else if (sys_ioctl(fd, FS_SHUTDOWN_IOC, (unsigned long)&flags) < 0)
		r = err_set(e, errno == ENOTTY ? -ENOTSUP : -errno, "fence: shut down %s: %s",
			    target, strerror(errno));
	close(fd);
	return r;
}

/* ---- freeze, thaw, grow ---------------------------------------------- */

/* linux/fs.h's values; that header and sys/mount.h clash on some glibcs */
#ifndef FIFREEZE
#define FIFREEZE _IOWR('X', 119, int)
#define FITHAW	 _IOWR('X', 120, int)
#endif

static int freeze_ioctl(const char *mountpoint, unsigned long req, const char *verb,
			struct err *e)
{
	int fd, r = 0, arg = 0;

	if (!mountpoint || !*mountpoint)
		return err_set(e, -EINVAL, "%s: empty mount point", verb);
	fd = sys_open(mountpoint, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, -errno, "%s %s: open: %s", verb, mountpoint, strerror(errno));
	if (sys_ioctl(fd, req, (unsigned long)&arg) < 0) {
		int err = errno;

		if (err == EOPNOTSUPP || err == ENOTTY)
			r = err_set(e, -ENOTSUP, "%s %s: the filesystem cannot freeze", verb,
				    mountpoint);
		else if (err == EBUSY && req == FIFREEZE)
			r = err_set(e, -EBUSY, "freeze %s: already frozen", mountpoint);
		else if (err == EINVAL && req == FITHAW)
			r = err_set(e, -EINVAL, "thaw %s: not frozen", mountpoint);
		else
			r = err_set(e, -err, "%s %s: %s", verb, mountpoint, strerror(err));
	}
	close(fd);
	if (r == 0)
		log_debug("fs: %s %s", req == FIFREEZE ? "froze" : "thawed", mountpoint);
	return r;
}

int osfs_freeze(const char *mountpoint, struct err *e)
{
	return freeze_ioctl(mountpoint, FIFREEZE, "freeze", e);
}

int osfs_thaw(const char *mountpoint, struct err *e)
{
	return freeze_ioctl(mountpoint, FITHAW, "thaw", e);
}

int osfs_freeze_do(const char *mountpoint, int (*fn)(void *arg, struct err *e), void *arg,
		   struct err *e)
{
	struct err te = ERR_INIT;
	int r, t;

	r = osfs_freeze(mountpoint, e);
	if (r < 0)
		return r;
	r = fn(arg, e);
	t = osfs_thaw(mountpoint, &te);
	if (t < 0) {
		log_error("%s: THE FILESYSTEM STAYS FROZEN (fsfreeze -u %s)", te.msg,
			mountpoint);
		if (r == 0)
			return err_set(e, t, "%s: the filesystem stays frozen (fsfreeze -u %s)",
				       te.msg, mountpoint);
	}
	return r;
}

int osfs_grow(const char *dev, const char *mountpoint, const char *fstype, long timeout_ms,
	      struct err *e)
{
	const char *argv[4] = { NULL };
	int r;

	if (!dev || !*dev || !mountpoint || !*mountpoint || !fstype)
		return err_set(e, -EINVAL, "grow: bad arguments");
	if (strcmp(fstype, "ext4") == 0) {
		argv[0] = "resize2fs";
		argv[1] = dev;
	} else if (strcmp(fstype, "xfs") == 0) {
		argv[0] = "xfs_growfs";
		argv[1] = "-d";
		argv[2] = mountpoint;
	} else {
		return err_set(e, -ENOTSUP, "grow %s: cannot grow a '%s' filesystem online", dev,
			       fstype);
	}
	r = run_command(argv, timeout_ms, e);
	/* ext4's online resize needs CAP_SYS_RESOURCE too: containers often lack it */
	if (r == -EIO && e && strstr(e->msg, "Permission denied")) {
		err_prefix(e, "grow %s at %s (needs CAP_SYS_RESOURCE and CAP_SYS_ADMIN)", dev,
			   mountpoint);
		e->code = -EPERM;
		return -EPERM;
	}
	if (r < 0)
		return err_prefix(e, "grow %s at %s", dev, mountpoint);
	log_debug("fs: grew %s (%s) at %s", dev, fstype, mountpoint);
	return 0;
}
