/*
 * fileio.c - careful file I/O helpers.
 */
#include "common/fileio.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int pwrite_all(int fd, const void *p, size_t n, off_t off)
{
	return pwrite_all_with(pwrite, fd, p, n, off);
}

int pwrite_all_with(ssize_t (*fn)(int, const void *, size_t, off_t), int fd,
		    const void *p, size_t n, off_t off)
{
	const uint8_t *c = p;
	while (n) {
		ssize_t w = fn(fd, c, n, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		c += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

int pread_all(int fd, void *p, size_t n, off_t off)
{
	uint8_t *c = p;
	while (n) {
		ssize_t r = pread(fd, c, n, off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ENODATA;
		c += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

int read_file(const char *path, size_t max, struct buf *b)
{
	size_t start = b->len;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		size_t got = b->len - start;
		size_t want = max + 1 - got; /* one more than allowed detects excess */
		size_t room = b->max - b->len;
		if (want > 65536)
			want = 65536;
		if (want > room)
			want = room;
		if (want == 0) {
			/* Buffer full at its maximum: larger only if more bytes follow. */
			char probe;
			ssize_t n = read(fd, &probe, 1);
			if (n < 0 && errno == EINTR)
				continue;
			r = n < 0 ? -errno : n > 0 ? ST_ELIMIT : 0;
			break;
		}
		r = buf_reserve(b, want);
		if (r < 0)
			break;
		ssize_t n = read(fd, b->data + b->len, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		if (b->len - start > max) {
			r = ST_ELIMIT;
			break;
		}
	}
	close(fd);
	if (r < 0)
		b->len = start;
	return r;
}

int map_file(const char *path, const uint8_t **ret_p, size_t *ret_n)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
	void *p = NULL;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
	} else if (st.st_size > 0) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			r = -errno;
		else
			madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
	}
	close(fd);
	if (r == 0) {
		*ret_p = p;
		*ret_n = p ? (size_t)st.st_size : 0;
	}
	return r;
}

void unmap_file(const uint8_t *p, size_t n)
{
	if (p && n)
		munmap((void *)p, n);
}

int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int fsync_parent(const char *path)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (!slash)
		return fsync_dir(".");
	if ((size_t)(slash - path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, (size_t)(slash - path));
	tmp[slash - path] = 0;
	return fsync_dir(slash == path ? "/" : tmp);
}

int write_file_atomic(const char *path, const void *data, size_t n, int mode)
{
	char tmp[PATH_MAX];
	int fd, r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, n);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	return fsync_parent(path);
}

int mkdir_p(const char *path, int mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != 0)
			continue;
		char c = tmp[i];
		tmp[i] = 0;
		if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
			return -errno;
		tmp[i] = c;
	}
	return 0;
}

int random_bytes(void *p, size_t n)
{
	uint8_t *c = p;
	while (n) {
		ssize_t r = getrandom(c, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c += r;
		n -= (size_t)r;
	}
	return 0;
}
