/*
 * hello_h2o: the comparison server on h2o's library (libh2o-evloop).
 *
 *   hello_h2o PORT inline|deferred
 *
 * Threads: two I/O threads, each with its own h2o_evloop, h2o_context and
 * SO_REUSEPORT listening socket on the same port; one h2o_globalconf is
 * shared read-only. Each loop, context, queue and listener is created on
 * its own thread (see io_main). h2o hands the handler the whole request body in
 * req->entity (Content-Length or chunked), capped by
 * max_request_entity_size (413 above it).
 *
 * Deferred: the handler hands the request to the committer and returns
 * without replying; done() (committer thread) calls
 * h2o_multithread_send_message to the owning loop's receiver, which wakes
 * that loop and runs on_return there, where h2o_send_inline replies. A
 * client may hang up while its request waits: the request (and its pool) is
 * then disposed, so a hook allocated in the request's pool clears the
 * pending item's pointer and on_return skips it.
 */
#include "common.h"

#include <h2o.h>
#include <h2o/multithread.h>

struct io {
	h2o_evloop_t *loop;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept;
	h2o_multithread_queue_t *queue;
	h2o_multithread_receiver_t receiver;
	int listen_fd;
};

struct pending {
	struct cm_item item;	/* first: cm_item * <-> struct pending * */
	h2o_multithread_message_t msg;
	h2o_req_t *req;		/* NULL once the request was disposed */
	struct pending **hook;	/* lives in req->pool */
	struct io *io;
};

static bool deferred;
static h2o_globalconf_t config;
static struct io ios[IO_THREADS];
static __thread struct io *self;

static void reply(h2o_req_t *req, uint64_t seq)
{
	char buf[REPLY_MAX];
	size_t n = reply_body(buf, seq);
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("application/json"));
	h2o_send_inline(req, buf, n);	/* copies buf */
}

static void on_dispose(void *p)
{
	struct pending **hook = p;
	if (*hook)
		(*hook)->req = NULL;
}

static void committed(struct cm_item *it)
{
	struct pending *p = (struct pending *)it;
	h2o_multithread_send_message(&p->io->receiver, &p->msg);
}

static void on_return(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
	(void)receiver;
	while (!h2o_linklist_is_empty(messages)) {
		struct pending *p = H2O_STRUCT_FROM_MEMBER(struct pending, msg.link,
							   messages->next);
		h2o_linklist_unlink(&p->msg.link);
		if (p->req) {
			*p->hook = NULL;
			reply(p->req, p->item.seq);
		}
		free(p);
	}
}

static int on_req(h2o_handler_t *h, h2o_req_t *req)
{
	struct pending *p;
	(void)h;
	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))
		return -1;
	if (!deferred) {
		reply(req, atomic_fetch_add(&seq_next, 1));
		return 0;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -1;
	p->req = req;
	p->io = self;
	p->item.done = committed;
	p->hook = h2o_mem_alloc_shared(&req->pool, sizeof(*p->hook), on_dispose);
	*p->hook = p;
	cm_submit(&p->item);
	return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
	h2o_socket_t *sock;
	if (err)
		return;
	while ((sock = h2o_evloop_socket_accept(listener)) != NULL)
		h2o_accept(&self->accept, sock);
}

static void *io_main(void *arg)
{
	struct io *io = arg;
	h2o_socket_t *ls;
	self = io;
	/* Everything tied to this loop is created on this thread: h2o's
	 * socket buffers point at the creating thread's (thread-local)
	 * buffer prototype, and sharing one between threads corrupts it. */
	io->loop = h2o_evloop_create();
	h2o_context_init(&io->ctx, io->loop, &config);
	io->accept.ctx = &io->ctx;
	io->accept.hosts = config.hosts;
	io->queue = h2o_multithread_create_queue(io->loop);
	h2o_multithread_register_receiver(io->queue, &io->receiver, on_return);
	ls = h2o_evloop_socket_create(io->loop, io->listen_fd, H2O_SOCKET_FLAG_DONT_READ);
	h2o_socket_read_start(ls, on_accept);
	for (;;)
		h2o_evloop_run(io->loop, INT32_MAX);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t threads[IO_THREADS];
	h2o_hostconf_t *host;
	h2o_pathconf_t *path;
	h2o_handler_t *handler;
	uint16_t port;

	parse_args(argc, argv, "hello_h2o", &port, &deferred);
	if (deferred)
		cm_start();
	h2o_config_init(&config);
	config.max_request_entity_size = MAX_BODY;
	config.http1.req_timeout = IDLE_TIMEOUT_S * 1000;
	host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")),
					65535);
	path = h2o_config_register_path(host, "/v1/events", 0);
	handler = h2o_create_handler(path, sizeof(*handler));
	handler->on_req = on_req;
	for (int i = 0; i < IO_THREADS; i++)
		ios[i].listen_fd = listen_loopback(port, true);
	for (int i = 0; i < IO_THREADS; i++)
		pthread_create(&threads[i], NULL, io_main, &ios[i]);
	for (int i = 0; i < IO_THREADS; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
