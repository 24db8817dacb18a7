/*
 * hello_evhttp: the comparison server on libevent's evhttp.
 *
 *   hello_evhttp PORT inline|deferred
 *
 * Threads: two I/O threads, each with its own event_base and evhttp and its
 * own SO_REUSEPORT listening socket on the same port (evhttp_accept_socket);
 * the kernel spreads connections. Nothing libevent is shared between
 * threads, so evthread locking is not enabled.
 *
 * Deferred: the request callback hands the request to the committer; done()
 * (committer thread) pushes it on the owning thread's return list under a
 * mutex and writes that thread's eventfd when the list was empty; the
 * eventfd's persistent read event drains the list on the owning base's
 * thread and calls evhttp_send_reply there. If the client hangs up first,
 * evhttp detaches the request from the connection and frees it at
 * evhttp_send_reply, so the pointer held by the committer stays valid.
 */
#include "common.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <sys/eventfd.h>

struct io {
	struct event_base *base;
	struct evhttp *http;
	struct event *wake;
	int efd;
	pthread_mutex_t mu;
	struct cm_item *ret;	/* committed, waiting for a reply */
};

struct pending {
	struct cm_item item;	/* first: cm_item * <-> struct pending * */
	struct evhttp_request *req;
	struct io *io;
};

static bool deferred;
static struct io ios[IO_THREADS];

static void reply(struct evhttp_request *req, uint64_t seq)
{
	char buf[REPLY_MAX];
	size_t n = reply_body(buf, seq);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	evbuffer_add(out, buf, n);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json");
	evhttp_send_reply(req, 200, "OK", NULL);
}

static void committed(struct cm_item *it)
{
	struct pending *p = (struct pending *)it;
	struct io *io = p->io;
	bool was_empty;
	pthread_mutex_lock(&io->mu);
	was_empty = !io->ret;
	it->next = io->ret;	/* order within a batch does not matter */
	io->ret = it;
	pthread_mutex_unlock(&io->mu);
	if (was_empty) {
		uint64_t one = 1;
		if (write(io->efd, &one, sizeof(one)) < 0)
			perror("eventfd write");
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct io *io = arg;
	struct cm_item *it, *next;
	uint64_t v;
	(void)what;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		perror("eventfd read");
	pthread_mutex_lock(&io->mu);
	it = io->ret;
	io->ret = NULL;
	pthread_mutex_unlock(&io->mu);
	for (; it; it = next) {
		struct pending *p = (struct pending *)it;
		next = it->next;
		reply(p->req, it->seq);
		free(p);
	}
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct io *io = arg;
	struct pending *p;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_send_error(req, 405, NULL);
		return;
	}
	/* evhttp has read the whole body (Content-Length or chunked) into
	 * the input buffer before calling us. */
	(void)evbuffer_get_length(evhttp_request_get_input_buffer(req));
	if (!deferred) {
		reply(req, atomic_fetch_add(&seq_next, 1));
		return;
	}
	p = malloc(sizeof(*p));
	if (!p) {
		evhttp_send_error(req, 503, NULL);
		return;
	}
	p->req = req;
	p->io = io;
	p->item.done = committed;
	cm_submit(&p->item);
}

static void *io_main(void *arg)
{
	struct io *io = arg;
	event_base_dispatch(io->base);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[IO_THREADS];
	uint16_t port;

	parse_args(argc, argv, "hello_evhttp", &port, &deferred);
	if (deferred)
		cm_start();
	for (int i = 0; i < IO_THREADS; i++) {
		struct io *io = &ios[i];
		struct timeval idle = { IDLE_TIMEOUT_S, 0 };
		pthread_mutex_init(&io->mu, NULL);
		io->base = event_base_new();
		io->http = io->base ? evhttp_new(io->base) : NULL;
		io->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (!io->http || io->efd < 0) {
			fputs("hello_evhttp: setup failed\n", stderr);
			return 1;
		}
		io->wake = event_new(io->base, io->efd, EV_READ | EV_PERSIST, on_wake, io);
		event_add(io->wake, NULL);
		evhttp_set_allowed_methods(io->http, EVHTTP_REQ_POST);
		evhttp_set_max_headers_size(io->http, MAX_HEADERS);
		evhttp_set_max_body_size(io->http, MAX_BODY);
		evhttp_set_timeout_tv(io->http, &idle);
		evhttp_set_cb(io->http, "/v1/events", on_request, io);
		if (evhttp_accept_socket(io->http, listen_loopback(port, true)) != 0) {
			fputs("hello_evhttp: evhttp_accept_socket failed\n", stderr);
			return 1;
		}
	}
	for (int i = 0; i < IO_THREADS; i++)
		pthread_create(&threads[i], NULL, io_main, &ios[i]);
	for (int i = 0; i < IO_THREADS; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
