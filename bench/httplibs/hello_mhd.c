/*
 * hello_mhd: the comparison server on GNU libmicrohttpd.
 *
 *   hello_mhd PORT inline|deferred
 *
 * Threads: MHD_USE_EPOLL_INTERNAL_THREAD with MHD_OPTION_THREAD_POOL_SIZE 2,
 * i.e. two MHD-owned threads, each with its own epoll set, both accepting on
 * the one listening socket MHD creates.
 *
 * Deferred: at the last call of the access handler (upload_data_size 0) the
 * request goes to the committer and the connection is suspended
 * (MHD_suspend_connection); the committer's done() marks it committed and
 * calls MHD_resume_connection, which MHD documents as callable from any
 * thread (it wakes the owning pool thread through its inter-thread channel);
 * MHD then calls the handler again on the owning thread, which replies.
 * A suspended connection is not polled, so a client that hangs up is only
 * noticed after the resume: the request state stays valid until then.
 */
#include "common.h"

#include <microhttpd.h>
#include <signal.h>

enum rstate { R_READING, R_QUEUED, R_COMMITTED };

struct req {
	struct cm_item item;	/* first: cm_item * <-> struct req * */
	struct MHD_Connection *conn;
	size_t body;
	bool bad;		/* wrong method or path */
	_Atomic int state;
};

static bool deferred;

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     uint64_t seq)
{
	char buf[REPLY_MAX];
	size_t n = status == 200 ? reply_body(buf, seq) : 0;
	struct MHD_Response *r =
		MHD_create_response_from_buffer(n, buf, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;
	if (!r)
		return MHD_NO;
	if (n)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void committed(struct cm_item *it)
{
	struct req *r = (struct req *)it;
	atomic_store(&r->state, R_COMMITTED);
	MHD_resume_connection(r->conn);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct req *r = *con_cls;
	(void)cls;
	(void)version;
	(void)upload_data;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		r->conn = conn;
		r->bad = strcmp(method, "POST") != 0 || strcmp(url, "/v1/events") != 0;
		r->item.done = committed;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_data_size) {
		r->body += *upload_data_size;
		*upload_data_size = 0;
		if (r->body > MAX_BODY)	/* MHD closes after an early reply */
			return reply(conn, 413, 0);
		return MHD_YES;
	}
	if (r->bad)
		return reply(conn, 404, 0);
	switch (atomic_load(&r->state)) {
	case R_READING:
		if (!deferred)
			return reply(conn, 200, atomic_fetch_add(&seq_next, 1));
		atomic_store(&r->state, R_QUEUED);
		MHD_suspend_connection(conn);
		cm_submit(&r->item);
		return MHD_YES;
	case R_COMMITTED:
		return reply(conn, 200, r->item.seq);
	default:
		return MHD_YES;	/* spurious call while queued */
	}
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	free(*con_cls);
	*con_cls = NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct MHD_Daemon *d;
	uint16_t port;
	sigset_t set;
	int sig;

	parse_args(argc, argv, "hello_mhd", &port, &deferred);
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (deferred)
		cm_start();
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
			     MHD_USE_ERROR_LOG,
			     port, NULL, NULL, on_request, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
			     MHD_OPTION_THREAD_POOL_SIZE, (unsigned)IO_THREADS,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(2 * MAX_HEADERS),
			     MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "hello_mhd: MHD_start_daemon failed on port %u\n", port);
		return 1;
	}
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
