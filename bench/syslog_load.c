/*
 * syslog_load.c - a syslog load generator for bench/syslog.sh: C
 * connections, each sending N RFC 5424 messages over TCP as fast as the
 * receiver reads them (octet-counted, or newline-framed with --newline),
 * then closing. Every message is distinct ("load-<conn>-<i>" plus
 * padding to --size bytes), so the receiver can be checked for exactly
 * once. Prints one JSON line: {"sent":N,"seconds":S,"msgs_per_s":R} (the
 * sender's view; the bench measures the server's durable rate itself).
 *
 *   syslog_load --port P [--host 127.0.0.1] [-c 4] [-n 250000] [--size 200] [--newline]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct job {
	const char *host;
	int port;
	unsigned id;
	unsigned long n;
	size_t size;
	int newline;
	int rc;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *sender(void *arg)
{
	struct job *j = arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)j->port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t cap = 1u << 20, len = 0;
	char *buf = malloc(cap + 4096), msg[4096], pad[2048];

	j->rc = 1;
	if (fd < 0 || !buf || inet_pton(AF_INET, j->host, &sa.sin_addr) != 1 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("syslog_load: connect");
		goto out;
	}
	memset(pad, 'x', sizeof(pad));
	for (unsigned long i = 1; i <= j->n; i++) {
		int m = snprintf(msg, sizeof(msg),
				 "<86>1 2026-11-28T10:00:00.000001Z loadhost loadgen %u - "
				 "[audit@32473 actor=\"user%lu\" action=\"user.login\" resource=\"acct-%lu\" outcome=\"success\"] "
				 "load-%u-%lu ", j->id, i % 1000, i % 5000, j->id, i);
		size_t ml = (size_t)m;
		if (ml < j->size && j->size - ml < sizeof(pad)) {
			memcpy(msg + ml, pad, j->size - ml);
			ml = j->size;
		}
		if (j->newline) {
			memcpy(buf + len, msg, ml);
			len += ml;
			buf[len++] = '\n';
		} else {
			len += (size_t)sprintf(buf + len, "%zu ", ml);
			memcpy(buf + len, msg, ml);
			len += ml;
		}
		if (len >= cap) {
			if (send_all(fd, buf, len) < 0) {
				perror("syslog_load: send");
				goto out;
			}
			len = 0;
		}
	}
	if (len && send_all(fd, buf, len) < 0) {
		perror("syslog_load: send");
		goto out;
	}
	j->rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 0, conns = 4, newline = 0;
	unsigned long n = 250000;
	size_t size = 200;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--host") && i + 1 < argc)
			host = argv[++i];
		else if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-c") && i + 1 < argc)
			conns = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-n") && i + 1 < argc)
			n = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--newline"))
			newline = 1;
		else {
			fprintf(stderr, "usage: syslog_load --port P [--host H] [-c CONNS] [-n MSGS_PER_CONN] "
				"[--size BYTES] [--newline]\n");
			return 2;
		}
	}
	if (port <= 0 || conns <= 0 || conns > 256 || size > 2000) {
		fprintf(stderr, "syslog_load: --port is required; -c 1..256; --size at most 2000\n");
		return 2;
	}
	struct job *jobs = calloc((size_t)conns, sizeof(*jobs));
	pthread_t *th = calloc((size_t)conns, sizeof(*th));
	if (!jobs || !th)
		return 1;
	double t0 = now_s();
	for (int i = 0; i < conns; i++) {
		jobs[i] = (struct job){ host, port, (unsigned)i, n, size, newline, 1 };
		pthread_create(&th[i], NULL, sender, &jobs[i]);
	}
	int rc = 0;
	for (int i = 0; i < conns; i++) {
		pthread_join(th[i], NULL);
		rc |= jobs[i].rc;
	}
	double dt = now_s() - t0;
	unsigned long total = n * (unsigned long)conns;
	printf("{\"sent\":%lu,\"seconds\":%.3f,\"msgs_per_s\":%.0f}\n", total, dt, (double)total / dt);
	free(jobs);
	free(th);
	return rc;
}
