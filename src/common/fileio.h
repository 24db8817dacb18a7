/*
 * fileio.h - whole-buffer I/O that retries short reads and writes, atomic
 * small-file replacement, and randomness. All return 0 or -errno.
 */
#ifndef SEALTRAIL_COMMON_FILEIO_H
#define SEALTRAIL_COMMON_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"

int write_all(int fd, const void *p, size_t n);
int pwrite_all(int fd, const void *p, size_t n, off_t off);
/* pwrite_all through fn instead of pwrite(2) (fault injection in tests). */
int pwrite_all_with(ssize_t (*fn)(int, const void *, size_t, off_t), int fd,
		    const void *p, size_t n, off_t off);
/* Reads exactly n bytes at off; -ENODATA if the file ends first. */
int pread_all(int fd, void *p, size_t n, off_t off);
/* Appends a whole file of at most max bytes to b; ST_ELIMIT if larger
 * (b is then left as it was). */
int read_file(const char *path, size_t max, struct buf *b);
/* Maps a whole file read-only (pages are read only when touched). An empty
 * file gives *ret_p == NULL and *ret_n == 0. Release with unmap_file(). */
int map_file(const char *path, const uint8_t **ret_p, size_t *ret_n);
void unmap_file(const uint8_t *p, size_t n);
/* Replaces path with data durably: tmp file, fsync, rename, fsync dir. */
int write_file_atomic(const char *path, const void *data, size_t n, int mode);
int fsync_dir(const char *dir);
/* fsync_dir on the directory that holds path. */
int fsync_parent(const char *path);
int mkdir_p(const char *path, int mode);
/* Fills p with n bytes from the kernel CSPRNG. */
int random_bytes(void *p, size_t n);

#endif
