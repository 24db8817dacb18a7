/*
 * proof.c - tlog-proof@v1 and consistency proofs from a live log (see
 * proof.h). The proof hashes come from the stored tree in one pread per
 * node; the checkpoint is the log's own signed note, so the result is
 * verifiable offline by anyone with the log's verifier key.
 */
#include "log/proof.h"

#include <string.h>

#include "common/codec.h"
#include "common/util.h"

int log_note_size(const uint8_t *note, size_t len, uint64_t *ret)
{
	struct checkpoint cp;
	const uint8_t *sep = memmem(note, len, "\n\n", 2);

	if (!sep || checkpoint_parse((const char *)note, (size_t)(sep - note) + 1, &cp) < 0)
		return ST_ECORRUPT;
	*ret = cp.size;
	return 0;
}

int log_proof_inclusion(struct log *l, uint64_t seq, uint64_t size,
			struct buf *out, uint64_t *ret_cp_size)
{
	uint8_t hashes[PROOF_MAX_HASHES][HASH_SIZE];
	struct buf note = BUF_INIT(NOTE_MAX_SIZE);
	uint64_t cpsize;
	size_t n = 0;
	int r;

	if ((r = log_read_checkpoint(l, size, &note)) < 0)
		goto out;
	if ((r = log_note_size(note.data, note.len, &cpsize)) < 0)
		goto out;
	if (ret_cp_size)
		*ret_cp_size = cpsize;
	if (seq >= cpsize) {
		r = ST_ERANGE;
		goto out;
	}
	if ((r = tree_inclusion_proof(log_tree(l), seq, cpsize, hashes, &n)) < 0)
		goto out;
	r = tlog_proof_format(seq, (const uint8_t(*)[HASH_SIZE])hashes, n, NULL, 0,
			      note.data, note.len, out);
out:
	buf_release(&note);
	return r;
}

int log_proof_consistency(struct log *l, uint64_t m, uint64_t n, struct buf *out)
{
	uint8_t hashes[PROOF_MAX_HASHES][HASH_SIZE];
	size_t k = 0;
	int r;

	if (m == 0 || m > n || n > log_size(l))
		return ST_ERANGE;
	if ((r = tree_consistency_proof(log_tree(l), m, n, hashes, &k)) < 0)
		return r;
	for (size_t i = 0; i < k; i++) {
		char h[BASE64_LEN(HASH_SIZE) + 1];
		base64_encode(hashes[i], HASH_SIZE, h);
		if ((r = buf_printf(out, "%s\n", h)) < 0)
			return r;
	}
	return 0;
}
