/*
 * fs: small file-system helpers with bounded sizes.
 * All return 0 or a negative errno.
 */
#ifndef RR_FS_H
#define RR_FS_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p with the given mode for directories it creates. */
int fs_mkdir_p(const char *path, mode_t mode);

/* rm -rf of a directory tree; never follows symlinks; missing is not an error. */
int fs_remove_tree(const char *path);

/* Write data to path via a temp file + rename, so readers (and this
 * process after a crash) see the old or the new content, never a mix.
 * No fsync: it is for run-state (pid, spec and marker files), which does
 * not outlive the machine, and a mount must not wait for the disk. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* fsync the directory path and each of its ancestors: after a mkdir -p of
 * state directories, their names are on disk too (once, at start). */
int fs_fsync_dirs_up(const char *path);

/* fsync a directory: the names created, renamed or unlinked in it are on
 * disk once this returns 0 (a file's own fsync does not cover its name). */
int fs_fsync_dir(const char *dir);

/* Read a whole file of at most max bytes into a NUL-terminated malloc'd
 * buffer the caller frees. -EFBIG when larger. */
int fs_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len);

#endif
