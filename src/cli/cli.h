/*
 * cli.h - shared pieces of the sealtrail command: one file per
 * subcommand (cmd_<name>.c), each exporting cmd_<name>(argc, argv).
 *
 * Exit codes: 0 success; 1 the operation failed or found a problem
 * (verify mismatch, refused input lines); 2 usage error.
 */
#ifndef SEALTRAIL_CLI_CLI_H
#define SEALTRAIL_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "log/log.h"

#define EXIT_USAGE 2

int cmd_init(int argc, char **argv);
int cmd_append(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);
int cmd_entry(int argc, char **argv);
int cmd_proof(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_tile(int argc, char **argv);
int cmd_token(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_timeline(int argc, char **argv);
int cmd_tail(int argc, char **argv);
int cmd_reindex(int argc, char **argv);
int cmd_erase(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_schema(int argc, char **argv);
int cmd_quarantine(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_emit(int argc, char **argv);

/* The HTTP client (http.c) of verify --url and the search commands. */
#define CLI_TOKEN_MAX 4096
struct cli_http {
	void *h;                      /* CURL * */
	const char *base;             /* the URL without trailing '/' */
	size_t base_len;
	struct curl_slist *hdrs;
	struct buf *cur;              /* the response being received */
	bool too_big;
	char errbuf[256];             /* CURL_ERROR_SIZE */
};
/* Reads the token: the file's content without its trailing newline, else
 * SEALTRAIL_TOKEN. 1 with tok filled, 0 when there is none, -1 (after a
 * message that never shows the token) when it is unusable. */
int cli_read_token(const char *file, struct buf *tok);
/* Sets up h (base and base_len set by the caller). False after a message. */
bool cli_http_setup(struct cli_http *h, const char *cacert, long timeout,
		    const struct buf *token, const char *agent);
/* GET base/path into out (capped at out->max): 0 with the HTTP status in
 * *ret_code, or a negative error after a message. */
int cli_http_get(struct cli_http *h, const char *path, struct buf *out, long *ret_code);
void cli_http_release(struct cli_http *h);
/* --url URL with a token (--token-file or SEALTRAIL_TOKEN) and an
 * optional CA file: checks the URL, reads the token into token (which
 * must have room for CLI_TOKEN_MAX), sets up libcurl and h. False after a
 * message. cli_http_close undoes it and wipes the token. */
bool cli_http_open(struct cli_http *h, struct buf *token, const char *url,
		   const char *token_file, const char *cacert, const char *agent);
void cli_http_close(struct cli_http *h, struct buf *token);
/* POST (or, with cli_http_send, another method) body[0..n) with
 * Content-Type ctype to base/path; as cli_http_get. */
int cli_http_send(struct cli_http *h, const char *method, const char *path, const char *ctype,
		  const void *body, size_t n, struct buf *out, long *ret_code);
int cli_http_post(struct cli_http *h, const char *path, const char *ctype, const void *body,
		  size_t n, struct buf *out, long *ret_code);
/* Appends "k=v" (after '&' unless b ends in '?') with v percent-encoded. */
void cli_put_param(struct buf *b, const char *k, const char *v);
/* One request through a running server: GET, or method with body[0..len)
 * of type ctype (default application/json). A 2xx answer is written to
 * stdout (a newline added when missing); any other is printed to stderr
 * as "the server answered N: ...". Returns the exit status, 0 or 1; the
 * HTTP status in *ret_code (0 when there was none). */
struct cli_call {
	const char *url, *token_file, *cacert, *agent;
	const char *method, *path, *ctype;
	const void *body;
	size_t len;
};
int cli_http_call(const struct cli_call *c, struct buf *resp, long *ret_code);

/* Prints "sealtrail: <msg>\n" to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Parses a decimal u64 argument or prints an error naming what. */
bool cli_u64(const char *s, const char *what, uint64_t *ret);
/* Opens the log at dir, printing the reason on failure. */
struct log *cli_open(const char *dir);
/* Parses a command whose only option is --data DIR; on success *dir is
 * set and optind is the first positional argument. */
bool cli_data_only(int argc, char **argv, const char **dir);
/* Writes all of b to stdout; false on error. */
bool cli_write(const void *p, size_t n);

#endif
