/*
 * fuzz_vault.c - the token vault's record reader (src/policy/vault.c):
 * arbitrary bytes as DIR/vault.log, opened with a fixed master key (bytes
 * 0..31, the key the seed corpus was made with: test_vault with
 * SEALTRAIL_VAULT_CORPUS=DIR).
 *
 * Checked on every run:
 *  - vault_open never crashes or reads out of bounds;
 *  - a refusal is ST_ECORRUPT, ST_ESIG or ST_EINVAL with a text that
 *    names the byte offset;
 *  - an accepted file works: a value tokenized now resolves, survives a
 *    compaction, and the file then reopens cleanly with nothing left to
 *    truncate or repair (so what open accepted and repaired, and what it
 *    wrote after, are consistent with each other);
 *  - a torn tail is reported inside the input.
 * The vault lives in /dev/shm when it exists (fdatasync is cheap there).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "policy/vault.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[128], key_path[192], log_path[192];

static void put(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
		abort();
}

static void setup(void)
{
	uint8_t key[VAULT_KEY_LEN];
	snprintf(dir, sizeof(dir), "%s/st-fuzz-vault-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (!mkdtemp(dir))
		abort();
	snprintf(key_path, sizeof(key_path), "%s/key", dir);
	snprintf(log_path, sizeof(log_path), "%s/" VAULT_FILE, dir);
	for (int i = 0; i < VAULT_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	put(key_path, key, sizeof(key));
	if (chmod(key_path, 0600) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vault_options o;
	struct vault_open_report rep;
	struct vault *v = NULL;
	char err[512], tok[VAULT_TOKEN_LEN + 1], buf[64];
	size_t n;
	int r;

	if (!dir[0])
		setup();
	put(log_path, data, size);
	o.key_path = key_path;
	o.flags = 0;
	memset(err, 0, sizeof(err));
	r = vault_open(&v, dir, &o, &rep, err, sizeof(err));
	if (r < 0) {
		if (r != ST_ECORRUPT && r != ST_ESIG && r != ST_EINVAL)
			abort();
		if (!memchr(err, 0, sizeof(err)) || !strstr(err, "byte offset"))
			abort();
		return 0;
	}
	if (rep.truncated_bytes && (rep.truncated_at + rep.truncated_bytes != size ||
				    !rep.truncated_why[0]))
		abort();
	if (vault_tokenize(v, "fuzz", NULL, 0, "fuzz-value", 10, tok, NULL, 0) < 0)
		abort();
	if (vault_detokenize(v, "fuzz", tok, VAULT_TOKEN_LEN, buf, sizeof(buf), &n) != 0 ||
	    n != 10 || memcmp(buf, "fuzz-value", 10) != 0)
		abort();
	if (vault_compact(v, err, sizeof(err)) != 0)
		abort();
	if (vault_detokenize(v, "fuzz", tok, VAULT_TOKEN_LEN, buf, sizeof(buf), &n) != 0)
		abort();
	vault_free(v);
	v = NULL;
	if (vault_open(&v, dir, &o, &rep, err, sizeof(err)) != 0 || rep.truncated_bytes ||
	    rep.erasures_finished)
		abort();
	if (vault_detokenize(v, "fuzz", tok, VAULT_TOKEN_LEN, buf, sizeof(buf), &n) != 0)
		abort();
	vault_free(v);
	return 0;
}
