/*
 * http.c - the command's HTTP client, shared by verify --url and the
 * search commands: one libcurl easy handle reused for every request
 * (keep-alive), http and https only, no redirects (a redirect could carry
 * the token elsewhere), connect and stall timeouts, each response capped
 * at its buffer's max. The token is read from a file or SEALTRAIL_TOKEN,
 * sent only as "Authorization: Bearer", never printed, and wiped after use.
 */
#include "cli/cli.h"
#include "common/fileio.h"
#include "common/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

_Static_assert(sizeof(((struct cli_http *)0)->errbuf) >= CURL_ERROR_SIZE, "errbuf holds a libcurl error");

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct cli_http *h = arg;
	size_t len = size * n;

	if (buf_append(h->cur, p, len) < 0) {
		h->too_big = true;
		return 0;             /* aborts the transfer */
	}
	return len;
}

static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
	case CURLE_FILESIZE_EXCEEDED: return ST_ELIMIT;
	default: return -EPROTO;
	}
}

/* Reads the token: --token-file's content without its trailing newline,
 * else SEALTRAIL_TOKEN. Returns 1 with *tok filled, 0 when there is none,
 * -1 (after a message that never shows the token) when it is unusable. */
int cli_read_token(const char *file, struct buf *tok)
{
	if (file) {
		int r = read_file(file, CLI_TOKEN_MAX, tok);
		if (r < 0) {
			cli_err("--token-file %s: %s", file, r == ST_ELIMIT ?
				"larger than a token can be" : st_strerror(r));
			return -1;
		}
		while (tok->len && (tok->data[tok->len - 1] == '\n' ||
				    tok->data[tok->len - 1] == '\r'))
			tok->len--;
	} else {
		const char *e = getenv("SEALTRAIL_TOKEN");
		if (!e || !*e)
			return 0;
		if (buf_puts(tok, e) < 0) {
			cli_err("SEALTRAIL_TOKEN: longer than a token can be");
			return -1;
		}
	}
	if (tok->len == 0) {
		cli_err("%s: empty token", file ? file : "SEALTRAIL_TOKEN");
		return -1;
	}
	/* Visible ASCII only: anything else could split the header. */
	for (size_t i = 0; i < tok->len; i++)
		if (tok->data[i] < 0x21 || tok->data[i] > 0x7e) {
			cli_err("%s: the token holds a byte that is not visible ASCII "
				"(at offset %zu)", file ? file : "SEALTRAIL_TOKEN", i);
			return -1;
		}
	return 1;
}

static void wipe_headers(struct curl_slist *s)
{
	for (struct curl_slist *p = s; p; p = p->next)
		if (p->data)
			st_wipe(p->data, strlen(p->data));
	curl_slist_free_all(s);
}

bool cli_http_setup(struct cli_http *h, const char *cacert, long timeout,
		    const struct buf *token, const char *agent)
{
	if (!(h->h = curl_easy_init())) {
		cli_err("cannot initialise libcurl");
		return false;
	}
	curl_easy_setopt(h->h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h->h, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(h->h, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(h->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h->h, CURLOPT_MAXREDIRS, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(h->h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(h->h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(h->h, CURLOPT_CONNECTTIMEOUT, timeout);
	/* Stalled for timeout seconds, or slower than needed to move the
	 * largest bundle (16 MiB) in 8 timeouts: give up. */
	curl_easy_setopt(h->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h->h, CURLOPT_LOW_SPEED_TIME, timeout);
	curl_easy_setopt(h->h, CURLOPT_TIMEOUT, timeout * 8);
	curl_easy_setopt(h->h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h->h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h->h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (cacert)
		curl_easy_setopt(h->h, CURLOPT_CAINFO, cacert);
	curl_easy_setopt(h->h, CURLOPT_USERAGENT, agent);
	if (token->len) {
		struct buf hdr = BUF_INIT(CLI_TOKEN_MAX + 64);
		int r = buf_puts(&hdr, "Authorization: Bearer ");
		if (r == 0)
			r = buf_append(&hdr, token->data, token->len);
		if (r == 0)
			r = buf_cstr(&hdr);
		if (r == 0 && !(h->hdrs = curl_slist_append(NULL, (char *)hdr.data)))
			r = -ENOMEM;
		if (hdr.data)
			st_wipe(hdr.data, hdr.cap);
		buf_release(&hdr);
		if (r < 0) {
			cli_err("cannot set the Authorization header: %s", st_strerror(r));
			return false;
		}
		curl_easy_setopt(h->h, CURLOPT_HTTPHEADER, h->hdrs);
	}
	return true;
}


bool cli_http_open(struct cli_http *h, struct buf *token, const char *url,
		   const char *token_file, const char *cacert, const char *agent)
{
	size_t n = strlen(url);
	if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
		cli_err("--url: expected an http:// or https:// URL, found \"%s\"", url);
		return false;
	}
	while (n > 8 && url[n - 1] == '/')
		n--;
	if (cli_read_token(token_file, token) <= 0) {
		if (token->len == 0)
			cli_err("no token: pass --token-file FILE or set SEALTRAIL_TOKEN");
		return false;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		cli_err("cannot initialise libcurl");
		return false;
	}
	h->base = url;
	h->base_len = n;
	return cli_http_setup(h, cacert, 30, token, agent);
}

void cli_http_close(struct cli_http *h, struct buf *token)
{
	cli_http_release(h);
	curl_global_cleanup();
	if (token->data)
		st_wipe(token->data, token->cap);
	buf_release(token);
}

int cli_http_post(struct cli_http *h, const char *path, const char *ctype, const void *body,
		  size_t n, struct buf *out, long *ret_code)
{
	return cli_http_send(h, "POST", path, ctype, body, n, out, ret_code);
}

int cli_http_send(struct cli_http *h, const char *method, const char *path, const char *ctype,
		  const void *body, size_t n, struct buf *out, long *ret_code)
{
	struct curl_slist *hdrs = NULL, *l;
	char ct[128];
	int r;

	snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
	for (l = h->hdrs; l; l = l->next)
		if (!(hdrs = curl_slist_append(hdrs, l->data)))
			break;
	if ((h->hdrs && !hdrs) || !(l = curl_slist_append(hdrs, ct))) {
		curl_slist_free_all(hdrs);
		cli_err("out of memory");
		return -ENOMEM;
	}
	hdrs = l;
	curl_easy_setopt(h->h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h->h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	if (strcmp(method, "POST"))
		curl_easy_setopt(h->h, CURLOPT_CUSTOMREQUEST, method);
	r = cli_http_get(h, path, out, ret_code);
	/* back to GET with the handle's own headers */
	curl_easy_setopt(h->h, CURLOPT_CUSTOMREQUEST, NULL);
	curl_easy_setopt(h->h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h->h, CURLOPT_HTTPHEADER, h->hdrs);
	for (struct curl_slist *x = hdrs; x; x = x->next)
		if (x->data)
			st_wipe(x->data, strlen(x->data));
	curl_slist_free_all(hdrs);
	return r;
}

int cli_http_get(struct cli_http *h, const char *path, struct buf *out, long *ret_code)
{
	struct buf url = BUF_INIT(PATH_MAX + 8192);
	CURLcode cc;
	int r;

	if ((r = buf_printf(&url, "%.*s/%s", (int)h->base_len, h->base, path)) < 0 ||
	    (r = buf_cstr(&url)) < 0)
		goto out;
	h->cur = out;
	h->too_big = false;
	h->errbuf[0] = 0;
	curl_easy_setopt(h->h, CURLOPT_URL, (char *)url.data);
	curl_easy_setopt(h->h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)out->max);
	cc = curl_easy_perform(h->h);
	if (h->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		cli_err("GET %s: response larger than %zu bytes", (char *)url.data, out->max);
		r = ST_ELIMIT;
		goto out;
	}
	if (cc != CURLE_OK) {
		cli_err("GET %s: %s", (char *)url.data,
			h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
		r = curl_errno(cc);
		goto out;
	}
	*ret_code = 0;
	curl_easy_getinfo(h->h, CURLINFO_RESPONSE_CODE, ret_code);
	r = 0;
out:
	if (r < 0)
		out->len = 0;
	buf_release(&url);
	return r;
}

void cli_http_release(struct cli_http *h)
{
	if (h->h)
		curl_easy_cleanup(h->h);
	h->h = NULL;
	wipe_headers(h->hdrs);
	h->hdrs = NULL;
}

void cli_put_param(struct buf *b, const char *k, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	buf_printf(b, "%s%s=", b->len && b->data[b->len - 1] != '?' ? "&" : "", k);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			buf_putc(b, *p);
		} else {
			buf_putc(b, '%');
			buf_putc(b, (uint8_t)hex[*p >> 4]);
			buf_putc(b, (uint8_t)hex[*p & 15]);
		}
	}
}

int cli_http_call(const struct cli_call *c, struct buf *resp, long *ret_code)
{
	struct cli_http h = { 0 };
	struct buf tok = BUF_INIT(CLI_TOKEN_MAX);
	int r, rc = 1;

	*ret_code = 0;
	if (!cli_http_open(&h, &tok, c->url, c->token_file, c->cacert, c->agent))
		goto out;
	r = c->method ? cli_http_send(&h, c->method, c->path, c->ctype ? c->ctype : "application/json",
				      c->body, c->len, resp, ret_code) :
			cli_http_get(&h, c->path, resp, ret_code);
	if (r < 0)
		goto out;
	if (*ret_code >= 200 && *ret_code < 300) {
		cli_write(resp->data, resp->len);
		if (!resp->len || resp->data[resp->len - 1] != '\n')
			cli_write("\n", 1);
		rc = 0;
	} else {
		cli_err("the server answered %ld: %.*s", *ret_code, (int)resp->len, (const char *)resp->data);
	}
out:
	if (h.h)
		cli_http_close(&h, &tok);
	buf_release(&tok);
	return rc;
}
