/*
 * common.h: what the three comparison servers (hello_mhd.c, hello_evhttp.c,
 * hello_h2o.c) share: argument parsing, a loopback listening socket, the
 * reply body, and the simulated group-commit thread used by MODE deferred.
 *
 * The committer models the real server: I/O threads hand it requests
 * (cm_submit, any thread); it takes everything queued so far as one batch,
 * sleeps COMMIT_NS as if one fdatasync covered the whole group, numbers the
 * requests, and calls each item's `done` ON THE COMMITTER THREAD. `done` must
 * only hand the item back to the I/O thread that owns it; replying is that
 * thread's job. Items are owned by the submitter; the committer never frees.
 *
 * Header-only (static inline functions) because these are throwaway comparison
 * tools built by build.sh, not part of the product.
 */
#ifndef HTTPLIBS_COMMON_H
#define HTTPLIBS_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_THREADS 2
#define COMMIT_NS 100000L		/* one simulated fdatasync per batch */
#define MAX_BODY (4u << 20)		/* larger bodies get 413 */
#define MAX_HEADERS 8192
#define IDLE_TIMEOUT_S 30
#define MAX_CONNECTIONS 10000
#define REPLY_MAX 64

struct cm_item {
	struct cm_item *next;
	void (*done)(struct cm_item *item);	/* called on the committer */
	uint64_t seq;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cm_item *head, **tail;
} cm = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, &cm.head };

static atomic_uint_fast64_t seq_next;

static inline void cm_submit(struct cm_item *it)
{
	it->next = NULL;
	pthread_mutex_lock(&cm.mu);
	*cm.tail = it;
	cm.tail = &it->next;
	pthread_cond_signal(&cm.cv);
	pthread_mutex_unlock(&cm.mu);
}

static inline void *cm_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct cm_item *batch, *next;
		struct timespec ts = { 0, COMMIT_NS };
		pthread_mutex_lock(&cm.mu);
		while (!cm.head)
			pthread_cond_wait(&cm.cv, &cm.mu);
		batch = cm.head;
		cm.head = NULL;
		cm.tail = &cm.head;
		pthread_mutex_unlock(&cm.mu);
		nanosleep(&ts, NULL);
		for (; batch; batch = next) {
			next = batch->next;	/* done() may hand it away */
			batch->seq = atomic_fetch_add(&seq_next, 1);
			batch->done(batch);
		}
	}
	return NULL;
}

static inline void cm_start(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, cm_main, NULL) != 0) {
		fputs("committer: cannot start thread\n", stderr);
		exit(1);
	}
	pthread_detach(t);
}

/* The reply body for sequence number `seq`; returns its length. */
static inline size_t reply_body(char *buf, uint64_t seq)
{
	int n = snprintf(buf, REPLY_MAX, "{\"results\":[{\"seq\":%llu}]}",
			 (unsigned long long)seq);
	return n > 0 ? (size_t)n : 0;
}

/* "hello_X PORT MODE": fills *port and *deferred or exits with usage. */
static inline void parse_args(int argc, char **argv, const char *name,
		       uint16_t *port, bool *deferred)
{
	unsigned long p = argc == 3 ? strtoul(argv[1], NULL, 10) : 0;
	if (p == 0 || p > 65535 ||
	    (strcmp(argv[2], "inline") != 0 && strcmp(argv[2], "deferred") != 0)) {
		fprintf(stderr, "usage: %s PORT inline|deferred\n", name);
		exit(2);
	}
	*port = (uint16_t)p;
	*deferred = strcmp(argv[2], "deferred") == 0;
}

/* A non-blocking listening socket on 127.0.0.1:port; SO_REUSEPORT so that
 * each I/O thread can own one and the kernel spreads connections. */
static inline int listen_loopback(uint16_t port, bool reuseport)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (reuseport &&
	     setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1024) < 0) {
		fprintf(stderr, "listen 127.0.0.1:%u: %s\n", port, strerror(errno));
		exit(1);
	}
	return fd;
}

#endif
