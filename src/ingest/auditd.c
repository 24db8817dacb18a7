/*
 * auditd.c - Linux audit records, reassembled into events; the format
 * and the rules for when an event ends are in auditd.h, the mapping in
 * docs/IMPORT.md.
 *
 * Invariants:
 *  - an open event keeps the raw lines of its records (bounded by
 *    AUDITD_EVENT_BYTES); they are parsed again when it ends, so the
 *    only state per event is its key, where it began and those bytes;
 *  - the event of a record set depends only on its records and on how
 *    it ended (metadata.ended), never on a clock or where reading began;
 *  - a line is checked whole before anything changes: a bad line leaves
 *    the reassembler as it was;
 *  - every ended event becomes one event line: it is composed with its
 *    records, then without them, then with every string cut to 256
 *    bytes, until event_parse accepts it (the last form is a bounded
 *    number of bounded strings).
 */
#include "ingest/auditd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/codec.h"
#include "common/timeutil.h"
#include "common/util.h"
#include "ingest/mapjson.h"

#define STR_CAP 4096          /* a value kept (command lines, paths) */
#define SMALL_CAP 256         /* every string in the last tier */
#define NODE_CAP 64
#define TEXT_CAP 256          /* words that are not key=value (AVC's "denied { read } for") */

struct afield {
	const char *k, *v;
	uint32_t kn, vn;
};

/* One parsed record; fields point into the line or into the decode area. */
struct arec {
	const char *type, *node, *sec, *ms, *serial;
	uint32_t tn, nn, secn, msn, sn;
	uint32_t first, nf;          /* fields[first .. first + nf) */
	char text[TEXT_CAP];
	size_t textn;
};

struct auditd_pending {
	char key[NODE_CAP + 64];     /* node '\0' seconds.millis:serial */
	size_t key_len, node_len;    /* node_len: the node may hold any byte, NUL too */
	uint64_t offset, line, last_seen;
	struct buf recs;             /* the record lines, each ending in '\n' */
	uint32_t nrec, dropped;
};

/* ---- one line ---- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '-' || c == '[' ||
	       c == ']';
}

static bool key_is(const struct afield *f, const char *k)
{
	return f->kn == strlen(k) && !memcmp(f->k, k, f->kn);
}

/* The fields the kernel and the user-space tools hex-encode when they
 * hold bytes that are not safe (audit_log_untrustedstring): such a
 * value is written unquoted, so an unquoted value of even length made of
 * hex digits is encoded. EXECVE's arguments are aN and aN[M]. */
static bool hex_field(const struct arec *rec, const char *k, size_t kn)
{
	/* the fields the audit field dictionary calls "encoded" (saddr
	 * aside: it is a binary sockaddr, kept in hex) */
	static const char *const names[] = { "proctitle", "cmd", "comm", "exe", "cwd", "name", "path",
					     "acct", "key", "data", "vm", "grp", "addr", "apparmor", "cgroup",
					     "device", "dir", "file", "invalid_context", "ocomm", "watch",
					     "new-chardev", "new-disk", "new-fs", "new-net", "new-rng",
					     "old-chardev", "old-disk", "old-fs", "old-net", "old-rng" };
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (kn == strlen(names[i]) && !memcmp(k, names[i], kn))
			return true;
	/* EXECVE's arguments; a SYSCALL's a0..a3 are numbers in hex */
	if (kn >= 2 && k[0] == 'a' && is_digit(k[1]) && rec->tn == 6 && !memcmp(rec->type, "EXECVE", 6)) {
		size_t i = 1;
		while (i < kn && is_digit(k[i]))
			i++;
		if (i == kn)
			return true;
		if (k[i] == '[') {
			i++;
			while (i < kn && is_digit(k[i]))
				i++;
			return i + 1 == kn && k[i] == ']';
		}
	}
	return false;
}

struct parser {
	const char *s;
	size_t n;
	struct afield *fields;       /* the caller's array */
	uint32_t cap, nf;
	char *dec;                   /* decode area, n bytes */
	size_t decn;
	struct arec *rec;
	struct auditd_error *err;
};

static int fail(struct parser *p, size_t at, const char *msg)
{
	p->err->offset = at;
	snprintf(p->err->msg, sizeof(p->err->msg), "%s", msg);
	return ST_EINVAL;
}

static void add_text(struct arec *r, const char *w, size_t n)
{
	if (r->textn && r->textn < TEXT_CAP - 1)
		r->text[r->textn++] = ' ';
	size_t k = n < TEXT_CAP - 1 - r->textn ? n : TEXT_CAP - 1 - r->textn;
	if (k)
		memcpy(r->text + r->textn, w, k);
	r->textn += k;
}

static int add_field(struct parser *p, const char *k, size_t kn, const char *v, size_t vn, bool quoted, size_t at)
{
	/* the first of two same keys wins (a user message repeating one) */
	for (uint32_t i = p->rec->first; i < p->nf; i++)
		if (p->fields[i].kn == kn && !memcmp(p->fields[i].k, k, kn))
			return 0;
	if (p->nf - p->rec->first >= AUDITD_FIELDS_MAX || p->nf >= p->cap)
		return fail(p, at, "more than 256 fields in one record (AUDITD_FIELDS_MAX)");
	if (!quoted && vn >= 2 && vn % 2 == 0 && hex_field(p->rec, k, kn)) {
		size_t i = 0;
		while (i < vn && is_hex(v[i]))
			i++;
		if (i == vn) {
			char *d = p->dec + p->decn;
			size_t dn = 0;
			for (i = 0; i < vn; i += 2) {
				unsigned hi = (unsigned)(is_digit(v[i]) ? v[i] - '0' : (v[i] | 0x20) - 'a' + 10);
				unsigned lo = (unsigned)(is_digit(v[i + 1]) ? v[i + 1] - '0' : (v[i + 1] | 0x20) - 'a' + 10);
				char c = (char)(hi << 4 | lo);
				/* proctitle's arguments are NUL-separated; a key's
				 * several keys are separated by 0x01 */
				if (c == '\0' && kn == 9 && !memcmp(k, "proctitle", 9))
					c = ' ';
				else if (c == '\x01' && kn == 3 && !memcmp(k, "key", 3))
					c = ',';
				d[dn++] = c;
			}
			while (dn && d[dn - 1] == ' ' && kn == 9)
				dn--;
			p->decn += dn;
			v = d;
			vn = dn;
		}
	}
	p->fields[p->nf++] = (struct afield){ k, v, (uint32_t)kn, (uint32_t)vn };
	return 0;
}

/* key=value pairs and bare words of s[at..end); inner: inside msg='...' */
static int parse_pairs(struct parser *p, size_t at, size_t end, bool inner)
{
	const char *s = p->s;
	int r;
	while (at < end) {
		while (at < end && s[at] == ' ')
			at++;
		if (at >= end)
			break;
		size_t k0 = at;
		while (at < end && key_char(s[at]))
			at++;
		if (at == k0 || at >= end || s[at] != '=') {
			/* a bare word: AVC's "avc:  denied  { read } for" */
			while (at < end && s[at] != ' ')
				at++;
			add_text(p->rec, s + k0, at - k0);
			continue;
		}
		size_t kn = at - k0;
		at++;
		if (at < end && (s[at] == '"' || s[at] == '\'')) {
			char q = s[at];
			const char *close = memchr(s + at + 1, q, end - at - 1);
			if (!close)
				return fail(p, at, q == '"' ? "a quoted value without its closing \"" :
					    "a msg='...' without its closing '");
			size_t v0 = at + 1, v1 = (size_t)(close - s);
			if (q == '\'' && !inner && kn == 3 && !memcmp(s + k0, "msg", 3)) {
				if ((r = parse_pairs(p, v0, v1, true)) < 0)
					return r;
			} else if ((r = add_field(p, s + k0, kn, s + v0, v1 - v0, true, k0)) < 0) {
				return r;
			}
			at = v1 + 1;
			continue;
		}
		size_t v0 = at;
		if (at < end && s[at] == '{') {
			/* SADDR={ fam=inet laddr=... } of the enriched part */
			const char *close = memchr(s + at, '}', end - at);
			at = close ? (size_t)(close - s) + 1 : end;
		} else {
			while (at < end && s[at] != ' ')
				at++;
		}
		if ((r = add_field(p, s + k0, kn, s + v0, at - v0, false, k0)) < 0)
			return r;
	}
	return 0;
}

static size_t digits(const char *s, size_t at, size_t n)
{
	size_t i = at;
	while (i < n && is_digit(s[i]))
		i++;
	return i - at;
}

/*
 * Parses one record line into rec and fields[first..); dec has room for
 * n bytes. 0 or ST_EINVAL (err).
 */
static int parse_record(const char *s, size_t n, struct arec *rec, struct afield *fields, uint32_t first,
			uint32_t cap, char *dec, size_t *ret_decn, struct auditd_error *err)
{
	struct parser p = { s, n, fields, cap, first, dec, 0, rec, err };
	size_t at = 0, d;
	memset(rec, 0, sizeof(*rec));
	rec->first = first;
	if (n >= 5 && !memcmp(s, "node=", 5)) {
		at = 5;
		while (at < n && s[at] != ' ')
			at++;
		rec->node = s + 5;
		rec->nn = (uint32_t)(at - 5);
		if (rec->nn == 0)
			return fail(&p, 5, "node= without a value");
		while (at < n && s[at] == ' ')
			at++;
	}
	if (n - at < 5 || memcmp(s + at, "type=", 5))
		return fail(&p, at, "expected type=TYPE msg=audit(SECONDS.MILLIS:SERIAL): (an audit record)");
	at += 5;
	rec->type = s + at;
	while (at < n && ((s[at] >= 'A' && s[at] <= 'Z') || is_digit(s[at]) || s[at] == '_'))
		at++;
	rec->tn = (uint32_t)(at - (size_t)(rec->type - s));
	if (rec->tn == 0 || rec->tn > 40 || at >= n || s[at] != ' ')
		return fail(&p, at, "expected a record type (upper-case letters, digits, _) and a space after type=");
	while (at < n && s[at] == ' ')
		at++;
	if (n - at < 10 || memcmp(s + at, "msg=audit(", 10))
		return fail(&p, at, "expected msg=audit(SECONDS.MILLIS:SERIAL):");
	at += 10;
	if ((d = digits(s, at, n)) == 0 || d > 11)
		return fail(&p, at, "expected the seconds of audit(SECONDS.MILLIS:SERIAL) (1 to 11 digits)");
	rec->sec = s + at;
	rec->secn = (uint32_t)d;
	at += d;
	if (at >= n || s[at] != '.' || (d = digits(s, at + 1, n)) == 0 || d > 9)
		return fail(&p, at, "expected .MILLIS after the seconds of audit(SECONDS.MILLIS:SERIAL)");
	rec->ms = s + at + 1;
	rec->msn = (uint32_t)d;
	at += 1 + d;
	if (at >= n || s[at] != ':' || (d = digits(s, at + 1, n)) == 0 || d > 20)
		return fail(&p, at, "expected :SERIAL after the time of audit(SECONDS.MILLIS:SERIAL)");
	rec->serial = s + at + 1;
	rec->sn = (uint32_t)d;
	at += 1 + d;
	uint64_t secs = 0;
	for (uint32_t i = 0; i < rec->secn; i++)
		secs = secs * 10 + (uint64_t)(rec->sec[i] - '0');
	if (secs > 9000000000u)
		return fail(&p, (size_t)(rec->sec - s), "the seconds of audit(SECONDS.MILLIS:SERIAL) are after the year 2255");
	if (n - at < 2 || s[at] != ')' || s[at + 1] != ':')
		return fail(&p, at, "expected \"):\" after audit(SECONDS.MILLIS:SERIAL");
	at += 2;
	const char *gs = memchr(s + at, 0x1d, n - at);
	size_t end = gs ? (size_t)(gs - s) : n;
	int r = parse_pairs(&p, at, end, false);
	if (r == 0 && gs)
		r = parse_pairs(&p, end + 1, n, false);   /* the ENRICHED part */
	rec->nf = p.nf - first;
	*ret_decn = p.decn;
	return r;
}

/* ---- events ---- */

/* A user-space message is one record: it ends its event at once. */
static bool single_record(const char *t, size_t n)
{
	static const char *const prefixes[] = { "USER_", "CRED_", "DAEMON_", "SERVICE_", "SYSTEM_", "ACCT_", "ROLE_",
						"GRP_", "ADD_", "DEL_", "CHGRP_", "CHUSER_", "USYS_", "VIRT_",
						"CRYPTO_", "ANOM_LOGIN", "ANOM_ADD_", "ANOM_DEL_", "ANOM_MOD_",
						"RESP_", "LABEL_", "SOFTWARE_UPDATE", "TRUSTED_APP" };
	for (size_t i = 0; i < ARRAY_SIZE(prefixes); i++) {
		size_t pl = strlen(prefixes[i]);
		if (n >= pl && !memcmp(t, prefixes[i], pl))
			return true;
	}
	return false;
}

static size_t make_key(const struct arec *r, char *key)
{
	size_t nn = r->nn < NODE_CAP ? r->nn : NODE_CAP, k = 0;
	if (nn)
		memcpy(key, r->node, nn);
	k = nn;
	key[k++] = '\0';
	memcpy(key + k, r->sec, r->secn);
	k += r->secn;
	key[k++] = '.';
	memcpy(key + k, r->ms, r->msn);
	k += r->msn;
	key[k++] = ':';
	memcpy(key + k, r->serial, r->sn);
	return k + r->sn;
}

/* The parsed records of one event. */
struct ev {
	struct arec *recs;
	uint32_t nrec;
	struct afield *fields;
	const char *key;             /* node '\0' time:serial */
	size_t key_len, node_len;
	const char *ended;
	uint32_t dropped;
};

static const struct afield *rget(const struct ev *e, const struct arec *r, const char *k)
{
	if (!r)
		return NULL;
	for (uint32_t i = r->first; i < r->first + r->nf; i++)
		if (key_is(&e->fields[i], k))
			return &e->fields[i];
	return NULL;
}

static const struct arec *first_of(const struct ev *e, const char *type)
{
	for (uint32_t i = 0; i < e->nrec; i++)
		if (e->recs[i].tn == strlen(type) && !memcmp(e->recs[i].type, type, e->recs[i].tn))
			return &e->recs[i];
	return NULL;
}

static bool val_is(const struct afield *f, const char *s)
{
	return f && f->vn == strlen(s) && !memcmp(f->v, s, f->vn);
}

static bool unset_id(const struct afield *f)
{
	return !f || f->vn == 0 || val_is(f, "4294967295") || val_is(f, "-1") || val_is(f, "unset") ||
	       val_is(f, "?");
}

static const char *syscall_name(const char *arch, size_t an, const char *num, size_t nn)
{
	static const struct { unsigned nr; const char *name; } x86_64[] = {
		{ 0, "read" }, { 1, "write" }, { 2, "open" }, { 3, "close" }, { 4, "stat" }, { 5, "fstat" },
		{ 6, "lstat" }, { 9, "mmap" }, { 10, "mprotect" }, { 21, "access" }, { 22, "pipe" }, { 32, "dup" },
		{ 33, "dup2" }, { 41, "socket" }, { 42, "connect" }, { 43, "accept" }, { 44, "sendto" },
		{ 45, "recvfrom" }, { 49, "bind" }, { 50, "listen" }, { 56, "clone" }, { 57, "fork" }, { 58, "vfork" },
		{ 59, "execve" }, { 60, "exit" }, { 61, "wait4" }, { 62, "kill" }, { 63, "uname" }, { 72, "fcntl" },
		{ 76, "truncate" }, { 77, "ftruncate" }, { 80, "chdir" }, { 82, "rename" }, { 83, "mkdir" },
		{ 84, "rmdir" }, { 85, "creat" }, { 86, "link" }, { 87, "unlink" }, { 88, "symlink" },
		{ 89, "readlink" }, { 90, "chmod" }, { 91, "fchmod" }, { 92, "chown" }, { 93, "fchown" },
		{ 94, "lchown" }, { 95, "umask" }, { 101, "ptrace" }, { 105, "setuid" }, { 106, "setgid" },
		{ 113, "setreuid" }, { 114, "setregid" }, { 117, "setresuid" }, { 119, "setresgid" }, { 157, "prctl" },
		{ 161, "chroot" }, { 165, "mount" }, { 166, "umount2" }, { 169, "reboot" }, { 170, "sethostname" },
		{ 175, "init_module" }, { 176, "delete_module" }, { 188, "setxattr" }, { 189, "lsetxattr" },
		{ 190, "fsetxattr" }, { 197, "removexattr" }, { 231, "exit_group" }, { 257, "openat" },
		{ 258, "mkdirat" }, { 260, "fchownat" }, { 263, "unlinkat" }, { 264, "renameat" }, { 265, "linkat" },
		{ 266, "symlinkat" }, { 268, "fchmodat" }, { 269, "faccessat" }, { 288, "accept4" },
		{ 313, "finit_module" }, { 316, "renameat2" }, { 319, "memfd_create" }, { 321, "bpf" },
		{ 322, "execveat" }, { 437, "openat2" },
	};
	uint64_t nr;
	if (an != 8 || memcmp(arch, "c000003e", 8) || !st_parse_u64(num, nn, &nr))
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(x86_64); i++)
		if (x86_64[i].nr == nr)
			return x86_64[i].name;
	return NULL;
}

static int put_f(struct buf *b, const char *key, const struct afield *f, size_t cap)
{
	return f ? mj_kv(b, key, f->v, f->vn, cap) : 0;
}

/* The PATH record that names the object: the first one that is not a
 * PARENT (the directory of a created or deleted file; for execve the
 * program, not its interpreter), else the first. */
static const struct afield *object_path(const struct ev *e)
{
	const struct afield *best = NULL, *any = NULL;
	for (uint32_t i = 0; i < e->nrec; i++) {
		const struct arec *r = &e->recs[i];
		if (r->tn != 4 || memcmp(r->type, "PATH", 4))
			continue;
		const struct afield *nm = rget(e, r, "name");
		if (!nm || val_is(nm, "(null)"))
			continue;
		if (!any)
			any = nm;
		if (!best && !val_is(rget(e, r, "nametype"), "PARENT"))
			best = nm;
	}
	return best ? best : any;
}

enum tier { FULL, NO_RECORDS, MINIMAL };

/* The node in the id: letters, digits, '.', '-', '_'; others as '_'. */
static int put_node(struct buf *b, const char *s, size_t n)
{
	int r = 0;
	for (size_t i = 0; i < n && i < NODE_CAP && r == 0; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' || c == '-' || c == '_';
		r = buf_putc(b, (uint8_t)(ok ? c : '_'));
	}
	return r;
}

static int compose(struct buf *b, const struct ev *e, enum tier tier, const char *omitted)
{
	const size_t cap = tier == MINIMAL ? SMALL_CAP : STR_CAP;
	const struct arec *sys = first_of(e, "SYSCALL"), *avc = first_of(e, "AVC");
	if (!avc)
		avc = first_of(e, "USER_AVC");
	const struct arec *main_rec = avc ? avc : sys ? sys : &e->recs[0];
	for (uint32_t i = 0; !avc && !sys && i < e->nrec; i++)
		if (!(e->recs[i].tn == 3 && !memcmp(e->recs[i].type, "EOE", 3))) {
			main_rec = &e->recs[i];
			break;
		}
	const struct arec *proc = sys ? sys : main_rec;
	const struct arec *r0 = &e->recs[0];
	size_t nodelen = e->node_len;
	const char *tkey = e->key + nodelen + 1;
	size_t tlen = e->key_len - nodelen - 1;
	char t[RFC3339_US_LEN + 1];
	uint64_t sec = 0, frac = 0;
	int r;

	/* id and time */
	if ((r = buf_puts(b, "{\"id\":\"auditd-")) < 0 ||
	    (nodelen && ((r = put_node(b, e->key, nodelen)) < 0 || (r = buf_putc(b, '-')) < 0)) ||
	    (r = buf_append(b, tkey, tlen)) < 0 || (r = buf_putc(b, '"')) < 0)
		return r;
	/* digits as written: "010" milliseconds are 10 (st_parse_u64
	 * refuses the leading zero) */
	for (uint32_t i = 0; i < r0->secn; i++)
		sec = sec * 10 + (uint64_t)(r0->sec[i] - '0');
	for (uint32_t i = 0; i < 9; i++)
		frac = frac * 10 + (i < r0->msn ? (uint64_t)(r0->ms[i] - '0') : 0);
	rfc3339_format_us((int64_t)sec * 1000000000 + (int64_t)frac, t);
	if ((r = buf_printf(b, ",\"time\":\"%s\"", t)) < 0)
		return r;

	/* action */
	if ((r = buf_puts(b, ",\"action\":\"auditd.")) < 0)
		return r;
	if (main_rec == sys) {
		const struct afield *nm = rget(e, sys, "SYSCALL"), *num = rget(e, sys, "syscall");
		const struct afield *arch = rget(e, sys, "arch");
		const char *known = num && arch ? syscall_name(arch->v, arch->vn, num->v, num->vn) : NULL;
		if ((r = buf_puts(b, "syscall.")) < 0 ||
		    (r = nm ? mj_seg(b, nm->v, nm->vn, 63, true) : known ? buf_puts(b, known) :
			 mj_seg(b, num ? num->v : NULL, num ? num->vn : 0, 63, true)) < 0)
			return r;
	} else if ((r = mj_seg(b, main_rec->type, main_rec->tn, 63, true)) < 0) {
		return r;
	}
	if ((r = buf_putc(b, '"')) < 0)
		return r;

	/* actor: the login user (auid) when set, else the account a
	 * user-space message names (acct), else the uid */
	const struct afield *auid = rget(e, proc, "auid"), *AUID = rget(e, proc, "AUID");
	const struct afield *uid = rget(e, proc, "uid"), *UID = rget(e, proc, "UID");
	const struct afield *acct = rget(e, main_rec, "acct"), *ses = rget(e, proc, "ses");
	const struct afield *addr = rget(e, main_rec, "addr"), *term = rget(e, main_rec, "terminal");
	const struct afield *id = NULL, *name = NULL;
	const char *atype = "process";
	if (val_is(acct, "?") || val_is(acct, "(unknown)"))
		acct = NULL;
	if (!unset_id(auid)) {
		id = AUID && !unset_id(AUID) ? AUID : auid;
		name = AUID && !unset_id(AUID) ? AUID : NULL;
		atype = "user";
	} else if (acct && acct->vn) {
		id = acct;
		atype = "user";
	} else if (uid && uid->vn) {
		id = UID && UID->vn ? UID : uid;
		name = UID && UID->vn ? UID : NULL;
	}
	if ((r = buf_puts(b, ",\"actor\":{\"id\":")) < 0 ||
	    (r = id ? json_put_str(b, id->v, id->vn < SMALL_CAP ? id->vn : SMALL_CAP) : buf_puts(b, "\"unknown\"")) < 0 ||
	    (r = buf_printf(b, ",\"type\":\"%s\"", atype)) < 0 || (r = put_f(b, "name", name, SMALL_CAP)) < 0)
		return r;
	if (addr && mj_is_ip(addr->v, addr->vn) && (r = put_f(b, "ip", addr, 64)) < 0)
		return r;
	if ((!unset_id(auid) && (r = put_f(b, "auid", auid, 32)) < 0) || (r = put_f(b, "uid", uid, 32)) < 0 ||
	    (!unset_id(ses) && (r = put_f(b, "session", ses, 32)) < 0) || (r = buf_putc(b, '}')) < 0)
		return r;

	/* resource */
	const struct afield *path = object_path(e), *exe = rget(e, proc, "exe");
	const struct afield *cwd = NULL;
	const struct arec *cwdr = first_of(e, "CWD");
	if (cwdr)
		cwd = rget(e, cwdr, "cwd");
	if (avc) {
		const struct afield *tclass = rget(e, avc, "tclass"), *p = rget(e, avc, "path");
		const struct afield *nm = rget(e, avc, "name");
		if ((r = buf_puts(b, ",\"resource\":{\"type\":")) < 0 ||
		    (r = tclass && tclass->vn ? json_put_str(b, tclass->v, tclass->vn < 64 ? tclass->vn : 64) :
						 buf_puts(b, "\"object\"")) < 0 ||
		    (r = put_f(b, "id", p ? p : nm ? nm : path, cap)) < 0 || (r = put_f(b, "name", nm, cap)) < 0 ||
		    (r = put_f(b, "context", rget(e, avc, "tcontext"), SMALL_CAP)) < 0 || (r = buf_putc(b, '}')) < 0)
			return r;
	} else if (path) {
		if ((r = buf_puts(b, ",\"resource\":{\"type\":\"file\",\"id\":")) < 0)
			return r;
		if (path->vn && path->v[0] != '/' && cwd && cwd->vn) {
			/* a relative name, from the process's directory */
			struct buf j = BUF_INIT(2 * (size_t)STR_CAP + 2);
			buf_append(&j, cwd->v, cwd->vn < cap ? cwd->vn : cap);
			if (cwd->v[cwd->vn - 1] != '/')
				buf_putc(&j, '/');
			buf_append(&j, path->v, path->vn < cap ? path->vn : cap);
			r = json_put_str(b, (const char *)j.data, j.len);
			buf_release(&j);
		} else {
			r = json_put_str(b, path->v, path->vn < cap ? path->vn : cap);
		}
		if (r < 0 || (r = put_f(b, "name", path, cap)) < 0 || (r = buf_putc(b, '}')) < 0)
			return r;
	} else if (acct && acct->vn && main_rec != sys) {
		if ((r = buf_puts(b, ",\"resource\":{\"type\":\"account\"")) < 0 || (r = put_f(b, "id", acct, SMALL_CAP)) < 0 ||
		    (r = put_f(b, "terminal", term, SMALL_CAP)) < 0 || (r = buf_putc(b, '}')) < 0)
			return r;
	} else if (exe && exe->vn && !val_is(exe, "?")) {
		if ((r = buf_puts(b, ",\"resource\":{\"type\":\"executable\"")) < 0 || (r = put_f(b, "id", exe, cap)) < 0 ||
		    (r = buf_putc(b, '}')) < 0)
			return r;
	} else if (term && term->vn && !val_is(term, "?")) {
		if ((r = buf_puts(b, ",\"resource\":{\"type\":\"terminal\"")) < 0 || (r = put_f(b, "id", term, SMALL_CAP)) < 0 ||
		    (r = buf_putc(b, '}')) < 0)
			return r;
	} else {
		if ((r = buf_puts(b, ",\"resource\":{\"type\":\"host\"")) < 0 ||
		    (nodelen && (r = mj_kv(b, "id", e->key, nodelen, NODE_CAP)) < 0) || (r = buf_putc(b, '}')) < 0)
			return r;
	}

	/* outcome: AVC denied; success=yes/no (no with EACCES/EPERM:
	 * denied); res=success/failed */
	const char *outcome = "unknown";
	const struct afield *succ = rget(e, proc, "success"), *res = rget(e, main_rec, "res");
	if (avc && memmem(avc->text, avc->textn, "denied", 6))
		outcome = "denied";
	else if (avc && memmem(avc->text, avc->textn, "granted", 7))
		outcome = "success";
	else if (val_is(succ, "yes"))
		outcome = "success";
	else if (val_is(succ, "no"))
		outcome = val_is(rget(e, proc, "exit"), "-13") || val_is(rget(e, proc, "exit"), "-1") ? "denied" : "failure";
	else if (val_is(res, "success") || val_is(res, "1") || val_is(res, "yes"))
		outcome = "success";
	else if (val_is(res, "failed") || val_is(res, "0") || val_is(res, "no"))
		outcome = "failure";
	if ((r = buf_printf(b, ",\"outcome\":\"%s\"", outcome)) < 0 ||
	    (avc && avc->textn && (r = mj_kv(b, "reason", avc->text, avc->textn, TEXT_CAP)) < 0))
		return r;
	if ((r = buf_puts(b, ",\"source\":{\"service\":\"auditd\",\"format\":\"linux-audit\"")) < 0 ||
	    (nodelen && (r = mj_kv(b, "host", e->key, nodelen, NODE_CAP)) < 0) || (r = buf_putc(b, '}')) < 0)
		return r;

	/* metadata: the process, then every record */
	if ((r = buf_puts(b, ",\"metadata\":{\"format\":\"linux-audit\"")) < 0 ||
	    (r = mj_kv(b, "audit_id", tkey, tlen, 64)) < 0 || (r = mj_kv(b, "serial", r0->serial, r0->sn, 32)) < 0 ||
	    (nodelen && (r = mj_kv(b, "node", e->key, nodelen, NODE_CAP)) < 0) ||
	    (r = mj_kv(b, "record_type", main_rec->type, main_rec->tn, 64)) < 0 ||
	    (r = buf_printf(b, ",\"ended\":\"%s\"", e->ended)) < 0)
		return r;
	static const char *const proc_keys[] = { "key", "pid", "ppid", "comm", "exe", "tty", "ses", "subj", "auid",
						 "uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid",
						 "arch", "syscall", "exit", "items" };
	for (size_t i = 0; i < ARRAY_SIZE(proc_keys); i++) {
		const struct afield *f = rget(e, proc, proc_keys[i]);
		if (f && !(i == 0 && val_is(f, "(null)")) && (r = put_f(b, proc_keys[i], f, cap)) < 0)
			return r;
	}
	if (proc != main_rec) {
		static const char *const main_keys[] = { "op", "acct", "hostname", "addr", "terminal", "res" };
		for (size_t i = 0; i < ARRAY_SIZE(main_keys); i++)
			if ((r = put_f(b, main_keys[i], rget(e, main_rec, main_keys[i]), cap)) < 0)
				return r;
	} else {
		static const char *const main_keys[] = { "op", "acct", "hostname", "addr", "terminal", "res", "cmd" };
		for (size_t i = 0; i < ARRAY_SIZE(main_keys); i++)
			if ((r = put_f(b, main_keys[i], rget(e, main_rec, main_keys[i]), cap)) < 0)
				return r;
	}
	if ((r = put_f(b, "cwd", cwd ? cwd : rget(e, main_rec, "cwd"), cap)) < 0)
		return r;
	const struct arec *pt = first_of(e, "PROCTITLE"), *ex = first_of(e, "EXECVE");
	if (pt && (r = put_f(b, "proctitle", rget(e, pt, "proctitle"), cap)) < 0)
		return r;
	if (ex) {
		/* the command line: a0 a1 ... as EXECVE gives them */
		struct buf cmd = BUF_INIT(STR_CAP);
		for (uint32_t i = ex->first; i < ex->first + ex->nf; i++) {
			const struct afield *f = &e->fields[i];
			if (f->kn < 2 || f->k[0] != 'a' || !is_digit(f->k[1]) || memchr(f->k, '_', f->kn))
				continue;
			if ((cmd.len && buf_putc(&cmd, ' ') < 0) || buf_append(&cmd, f->v, f->vn) < 0)
				break;
		}
		r = cmd.len ? mj_kv(b, "command", (const char *)cmd.data, cmd.len, cap) : 0;
		buf_release(&cmd);
		if (r < 0)
			return r;
	}
	if (tier == FULL) {
		if ((r = buf_puts(b, ",\"records\":[")) < 0)
			return r;
		for (uint32_t i = 0; i < e->nrec; i++) {
			const struct arec *rc = &e->recs[i];
			if ((i && (r = buf_putc(b, ',')) < 0) || (r = buf_puts(b, "{\"type\":")) < 0 ||
			    (r = json_put_str(b, rc->type, rc->tn)) < 0 || (r = buf_puts(b, ",\"fields\":{")) < 0)
				return r;
			for (uint32_t k = rc->first; k < rc->first + rc->nf; k++) {
				const struct afield *f = &e->fields[k];
				if ((k > rc->first && (r = buf_putc(b, ',')) < 0) || (r = json_put_str(b, f->k, f->kn)) < 0 ||
				    (r = buf_putc(b, ':')) < 0 ||
				    (r = json_put_str(b, f->v, f->vn < STR_CAP ? f->vn : STR_CAP)) < 0)
					return r;
			}
			if ((r = buf_putc(b, '}')) < 0 || (rc->textn && (r = mj_kv(b, "text", rc->text, rc->textn, TEXT_CAP)) < 0) ||
			    (r = buf_putc(b, '}')) < 0)
				return r;
		}
		if ((r = buf_putc(b, ']')) < 0)
			return r;
	}
	if (e->dropped && (r = buf_printf(b, ",\"records_dropped\":%u", e->dropped)) < 0)
		return r;
	if (omitted && (r = mj_kv(b, "records_omitted", omitted, strlen(omitted), 256)) < 0)
		return r;
	return buf_puts(b, "}}");
}

/* Ends one open event: parses its records again and appends its line. */
static int emit(struct auditd_asm *a, struct auditd_pending *pe, const char *ended, struct buf *out)
{
	struct ev e = { 0 };
	struct auditd_error err;
	struct event_info info;
	struct event_error perr;
	struct buf *line = &a->line, *scratch = &a->scratch;
	char why[256] = "";
	int r = 0;
	size_t nf_cap = 0;

	/* fields: at most one per two bytes of a line, and AUDITD_FIELDS_MAX a record */
	nf_cap = pe->recs.len / 2 + 1;
	if (nf_cap > (size_t)pe->nrec * AUDITD_FIELDS_MAX)
		nf_cap = (size_t)pe->nrec * AUDITD_FIELDS_MAX;
	e.recs = calloc(pe->nrec ? pe->nrec : 1, sizeof(*e.recs));
	e.fields = calloc(nf_cap ? nf_cap : 1, sizeof(*e.fields));
	char *dec = malloc(pe->recs.len + 1);
	if (!e.recs || !e.fields || !dec) {
		r = -ENOMEM;
		goto out;
	}
	e.key = pe->key;
	e.key_len = pe->key_len;
	e.node_len = pe->node_len;
	e.ended = ended;
	e.dropped = pe->dropped;
	uint32_t nf = 0;
	size_t decn = 0;
	for (size_t at = 0; at < pe->recs.len && e.nrec < pe->nrec;) {
		const char *s = (const char *)pe->recs.data + at;
		const char *nl = memchr(s, '\n', pe->recs.len - at);
		size_t n = nl ? (size_t)(nl - s) : pe->recs.len - at;
		struct arec *rc = &e.recs[e.nrec];
		size_t used = 0;
		if (parse_record(s, n, rc, e.fields, nf, (uint32_t)nf_cap, dec + decn, &used, &err) == 0) {
			nf += rc->nf;
			decn += used;
			if (!(rc->tn == 3 && !memcmp(rc->type, "EOE", 3)))
				e.nrec++;
		}
		at += n + 1;
	}
	if (e.nrec == 0)
		goto out;   /* only an EOE: nothing to say */
	memset(&perr, 0, sizeof(perr));
	for (int tier = FULL; tier <= MINIMAL; tier++) {
		buf_reset(line);
		r = compose(line, &e, (enum tier)tier, tier == FULL ? NULL : why);
		if (r == 0) {
			buf_reset(scratch);
			r = event_parse(line->data, line->len, &a->lim, scratch, &info, &perr);
			if (r == 0) {
				if (buf_append(out, line->data, line->len) < 0 || buf_putc(out, '\n') < 0)
					r = ST_ELIMIT;
				else
					a->emitted_lines[a->nemitted++] = pe->line;
				break;
			}
		}
		if (tier == FULL)
			snprintf(why, sizeof(why), "the records made the event too large for the log: %.150s",
				 perr.msg[0] ? perr.msg : "too large");
	}
	if (r == ST_EINVAL)
		r = -EPROTO;   /* even the smallest form refused: a bug here, not a bad line */
out:
	free(e.recs);
	free(e.fields);
	free(dec);
	return r;
}

static void drop_pending(struct auditd_asm *a, size_t i)
{
	buf_release(&a->p[i].recs);
	memmove(&a->p[i], &a->p[i + 1], (a->np - i - 1) * sizeof(*a->p));
	a->np--;
}

static int end_event(struct auditd_asm *a, size_t i, const char *ended, struct buf *out, long *count)
{
	size_t before = a->nemitted;
	int r = emit(a, &a->p[i], ended, out);
	if (r < 0)
		return r;
	*count += (long)(a->nemitted - before);
	drop_pending(a, i);
	return 0;
}

void auditd_asm_init(struct auditd_asm *a, const struct event_limits *lim)
{
	memset(a, 0, sizeof(*a));
	if (lim)
		a->lim = *lim;
	else
		event_limits_default(&a->lim);
	a->line = (struct buf)BUF_INIT(8 * a->lim.max_entry + 65536);
	a->scratch = (struct buf)BUF_INIT(a->lim.max_entry);
}

void auditd_asm_release(struct auditd_asm *a)
{
	for (size_t i = 0; i < a->np; i++)
		buf_release(&a->p[i].recs);
	free(a->p);
	a->p = NULL;
	a->np = 0;
	buf_release(&a->line);
	buf_release(&a->scratch);
}

long auditd_asm_feed(struct auditd_asm *a, const uint8_t *line, size_t n, uint64_t offset, uint64_t lineno,
		     struct buf *out, struct auditd_error *err)
{
	struct arec rec;
	struct afield *fields = NULL;
	char *dec = NULL, key[NODE_CAP + 64];
	long count = 0;
	int r;

	memset(err, 0, sizeof(*err));
	a->nemitted = 0;
	if (n > AUDITD_LINE_MAX) {
		err->offset = AUDITD_LINE_MAX;
		snprintf(err->msg, sizeof(err->msg), "a record of %zu bytes, at most %u (AUDITD_LINE_MAX)", n,
			 AUDITD_LINE_MAX);
		return ST_EINVAL;
	}
	fields = malloc(AUDITD_FIELDS_MAX * sizeof(*fields));
	dec = malloc(n + 1);
	if (!fields || !dec) {
		r = -ENOMEM;
		goto out;
	}
	size_t used;
	if ((r = parse_record((const char *)line, n, &rec, fields, 0, AUDITD_FIELDS_MAX, dec, &used, err)) < 0)
		goto out;
	size_t kl = make_key(&rec, key);
	bool eoe = rec.tn == 3 && !memcmp(rec.type, "EOE", 3);
	size_t i;
	for (i = 0; i < a->np; i++)
		if (a->p[i].key_len == kl && !memcmp(a->p[i].key, key, kl))
			break;
	if (i == a->np) {
		if (eoe)
			goto out;   /* the end of an event already ended (by the window) */
		if (a->np >= AUDITD_PENDING_MAX && (r = end_event(a, 0, "limit", out, &count)) < 0)
			goto out;
		struct auditd_pending *nv = realloc(a->p, (a->np + 1) * sizeof(*nv));
		if (!nv) {
			r = -ENOMEM;
			goto out;
		}
		a->p = nv;
		i = a->np++;
		memset(&a->p[i], 0, sizeof(a->p[i]));
		memcpy(a->p[i].key, key, kl);
		a->p[i].key_len = kl;
		a->p[i].node_len = rec.nn < NODE_CAP ? rec.nn : NODE_CAP;
		a->p[i].offset = offset;
		a->p[i].line = lineno;
		a->p[i].recs = (struct buf)BUF_INIT(AUDITD_EVENT_BYTES);
		a->started++;
	}
	struct auditd_pending *pe = &a->p[i];
	pe->last_seen = a->started;
	if (!eoe) {
		if (buf_append(&pe->recs, line, n) < 0 || buf_putc(&pe->recs, '\n') < 0) {
			pe->dropped++;
		} else {
			pe->nrec++;
		}
	}
	if (eoe || (pe->nrec == 1 && single_record(rec.type, rec.tn))) {
		if ((r = end_event(a, i, eoe ? "eoe" : "single", out, &count)) < 0)
			goto out;
	}
	/* the window: events no record has joined for AUDITD_WINDOW events */
	for (size_t k = 0; k < a->np;) {
		if (a->started - a->p[k].last_seen >= AUDITD_WINDOW) {
			if ((r = end_event(a, k, "window", out, &count)) < 0)
				goto out;
		} else {
			k++;
		}
	}
out:
	free(fields);
	free(dec);
	return r < 0 ? r : count;
}

long auditd_asm_flush(struct auditd_asm *a, struct buf *out)
{
	long count = 0;
	a->nemitted = 0;
	while (a->np) {
		int r = end_event(a, 0, "eof", out, &count);
		if (r < 0)
			return r;
	}
	return count;
}

bool auditd_asm_oldest(const struct auditd_asm *a, uint64_t *ret_offset, uint64_t *ret_line)
{
	if (!a->np)
		return false;
	*ret_offset = a->p[0].offset;
	*ret_line = a->p[0].line;
	return true;
}

long auditd_map(const uint8_t *text, size_t n, const struct event_limits *lim, struct buf *out,
		void (*refused)(void *ctx, uint64_t lineno, const struct auditd_error *err), void *ctx)
{
	struct auditd_asm a;
	struct auditd_error err;
	size_t start = out->len;
	long count = 0, k = 0;
	uint64_t ln = 0;

	auditd_asm_init(&a, lim);
	for (size_t at = 0; at < n;) {
		const uint8_t *nl = memchr(text + at, '\n', n - at);
		size_t e = nl ? (size_t)(nl - text) : n, len = e - at;
		ln++;
		while (len && (text[at + len - 1] == '\r' || text[at + len - 1] == ' '))
			len--;
		if (len) {
			k = auditd_asm_feed(&a, text + at, len, at, ln, out, &err);
			if (k == ST_EINVAL) {
				if (refused)
					refused(ctx, ln, &err);
				k = 0;
			} else if (k < 0) {
				break;
			}
			count += k;
		}
		at = e + 1;
	}
	if (k >= 0 && (k = auditd_asm_flush(&a, out)) >= 0)
		count += k;
	auditd_asm_release(&a);
	if (k < 0) {
		out->len = start;
		return k;
	}
	return count;
}
