// Command stverify is an independent judge of Sealtrail's signed notes,
// checkpoints, proofs and tiles, built only on Go's reference packages
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog (Debian's
// golang-golang-x-mod-dev). It shares no code with Sealtrail: what it
// accepts, any standard client accepts.
//
//	stverify note VKEY NOTEFILE
//	stverify checkpoint VKEY NOTEFILE
//	stverify inclusion VKEY PROOFFILE LEAFHASH_B64
//	stverify consistency OLDSIZE OLDROOT_B64 NEWSIZE NEWROOT_B64 PROOFFILE
//	stverify tiles VKEY NOTEFILE DIR
//	stverify sign SKEY TEXTFILE        (writes a signed note to stdout)
//	stverify keygen NAME               (prints a signer and a verifier key)
//
// VKEY and SKEY are key texts, or @FILE to read one from a file. Every
// failure exits with status 1 and a message on stderr; usage errors exit 2.
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const tileHeight = 8

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "stverify: "+format+"\n", args...)
	os.Exit(1)
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  stverify note VKEY NOTEFILE
  stverify checkpoint VKEY NOTEFILE
  stverify inclusion VKEY PROOFFILE LEAFHASH_B64
  stverify consistency OLDSIZE OLDROOT_B64 NEWSIZE NEWROOT_B64 PROOFFILE
  stverify tiles VKEY NOTEFILE DIR
  stverify sign SKEY TEXTFILE
  stverify keygen NAME`)
	os.Exit(2)
}

// keyArg returns a key text given directly or as @FILE (one line).
func keyArg(s string) string {
	if strings.HasPrefix(s, "@") {
		b, err := os.ReadFile(s[1:])
		if err != nil {
			fail("%v", err)
		}
		return strings.TrimSuffix(string(b), "\n")
	}
	return s
}

func readFile(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return b
}

// openNote verifies msg with the single verifier key vkey.
func openNote(vkey string, msg []byte) *note.Note {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier key %q: %v", vkey, err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail("note does not verify: %v", err)
	}
	return n
}

// parseHash decodes a canonical base64 SHA-256 hash.
func parseHash(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != tlog.HashSize {
		return h, fmt.Errorf("not a base64 32-byte hash: %q", s)
	}
	copy(h[:], b)
	return h, nil
}

// parseSize parses a canonical decimal (no sign, no leading zeros) that
// fits in an int64, the range Go's tlog works in.
func parseSize(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, fmt.Errorf("not a canonical decimal size: %q", s)
	}
	return n, nil
}

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

// parseCheckpoint parses a C2SP tlog-checkpoint note text.
func parseCheckpoint(text string) (checkpoint, error) {
	var c checkpoint
	if !strings.HasSuffix(text, "\n") {
		return c, errors.New("checkpoint: text does not end in newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("checkpoint: %d lines, want at least 3", len(lines))
	}
	for i, l := range lines {
		if l == "" {
			return c, fmt.Errorf("checkpoint: line %d is empty", i+1)
		}
	}
	c.origin = lines[0]
	var err error
	if c.size, err = parseSize(lines[1]); err != nil {
		return c, fmt.Errorf("checkpoint: %v", err)
	}
	if c.root, err = parseHash(lines[2]); err != nil {
		return c, fmt.Errorf("checkpoint: root: %v", err)
	}
	return c, nil
}

// emptyRoot is the RFC 6962 root of the empty tree, SHA-256 of nothing.
// (Go's tlog.TreeHash(0) returns all zeros instead.)
func emptyRoot() tlog.Hash {
	return tlog.Hash(sha256.Sum256(nil))
}

type tlogProof struct {
	extra  []byte
	index  int64
	hashes tlog.RecordProof
	note   []byte
}

// parseProof parses a C2SP tlog-proof@v1 file, independently of
// Sealtrail's parser.
func parseProof(b []byte) (tlogProof, error) {
	var p tlogProof
	rest := b
	next := func() (string, bool) {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return "", false
		}
		l := string(rest[:i])
		rest = rest[i+1:]
		return l, true
	}
	l, ok := next()
	if !ok || l != "c2sp.org/tlog-proof@v1" {
		return p, errors.New("proof: first line is not c2sp.org/tlog-proof@v1")
	}
	if l, ok = next(); !ok {
		return p, errors.New("proof: truncated")
	}
	if strings.HasPrefix(l, "extra ") {
		x, err := base64.StdEncoding.Strict().DecodeString(l[len("extra "):])
		if err != nil {
			return p, fmt.Errorf("proof: extra: %v", err)
		}
		p.extra = x
		if l, ok = next(); !ok {
			return p, errors.New("proof: truncated")
		}
	}
	if !strings.HasPrefix(l, "index ") {
		return p, fmt.Errorf("proof: want index line, got %q", l)
	}
	idx, err := parseSize(l[len("index "):])
	if err != nil {
		return p, fmt.Errorf("proof: index: %v", err)
	}
	p.index = idx
	for {
		if l, ok = next(); !ok {
			return p, errors.New("proof: no empty line before the checkpoint")
		}
		if l == "" {
			break
		}
		h, err := parseHash(l)
		if err != nil {
			return p, fmt.Errorf("proof: hash line %d: %v", len(p.hashes)+1, err)
		}
		p.hashes = append(p.hashes, h)
	}
	if len(rest) == 0 {
		return p, errors.New("proof: no checkpoint")
	}
	p.note = rest
	return p, nil
}

// dirTiles serves tiles from DIR laid out by their C2SP tlog-tiles paths
// (DIR/tile/<L>/<N>[.p/<W>]), which are Go's tile paths without the
// height element.
type dirTiles struct {
	dir string
}

func (d dirTiles) Height() int { return tileHeight }

func c2spPath(t tlog.Tile) string {
	p := t.Path() // tile/8/L/NNN[.p/W]
	prefix := fmt.Sprintf("tile/%d/", t.H)
	if !strings.HasPrefix(p, prefix) {
		panic("unexpected tile path " + p)
	}
	return "tile/" + p[len(prefix):]
}

func (d dirTiles) readTile(t tlog.Tile) ([]byte, error) {
	want := t.W * tlog.HashSize
	exact := filepath.Join(d.dir, filepath.FromSlash(c2spPath(t)))
	b, err := os.ReadFile(exact)
	if err == nil {
		if len(b) != want {
			return nil, fmt.Errorf("%s: %d bytes, want %d", exact, len(b), want)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	// A client may read a wider tile and use its prefix (a partial tile
	// may be gone once a wider or the full tile exists).
	for w := t.W + 1; w <= 1<<tileHeight; w++ {
		wt := t
		wt.W = w
		p := filepath.Join(d.dir, filepath.FromSlash(c2spPath(wt)))
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if len(b) != w*tlog.HashSize {
			return nil, fmt.Errorf("%s: %d bytes, want %d", p, len(b), w*tlog.HashSize)
		}
		return b[:want], nil
	}
	return nil, fmt.Errorf("tile %s: not found (nor any wider tile)", c2spPath(t))
}

func (d dirTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := d.readTile(t)
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (d dirTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func cmdNote(args []string) {
	if len(args) != 2 {
		usage()
	}
	n := openNote(keyArg(args[0]), readFile(args[1]))
	fmt.Print(n.Text)
}

func cmdCheckpoint(args []string) {
	if len(args) != 2 {
		usage()
	}
	n := openNote(keyArg(args[0]), readFile(args[1]))
	c, err := parseCheckpoint(n.Text)
	if err != nil {
		fail("%v", err)
	}
	fmt.Printf("origin %s\nsize %d\nroot %s\n", c.origin, c.size, c.root)
}

func cmdInclusion(args []string) {
	if len(args) != 3 {
		usage()
	}
	p, err := parseProof(readFile(args[1]))
	if err != nil {
		fail("%v", err)
	}
	n := openNote(keyArg(args[0]), p.note)
	c, err := parseCheckpoint(n.Text)
	if err != nil {
		fail("%v", err)
	}
	leaf, err := parseHash(args[2])
	if err != nil {
		fail("leaf hash: %v", err)
	}
	if p.index >= c.size {
		fail("index %d not in a tree of size %d", p.index, c.size)
	}
	if err := tlog.CheckRecord(p.hashes, c.size, c.root, p.index, leaf); err != nil {
		fail("inclusion of %d in tree %d: %v", p.index, c.size, err)
	}
	fmt.Println("OK")
}

func cmdConsistency(args []string) {
	if len(args) != 5 {
		usage()
	}
	oldSize, err1 := parseSize(args[0])
	oldRoot, err2 := parseHash(args[1])
	newSize, err3 := parseSize(args[2])
	newRoot, err4 := parseHash(args[3])
	for _, err := range []error{err1, err2, err3, err4} {
		if err != nil {
			fail("%v", err)
		}
	}
	var proof tlog.TreeProof
	text := string(readFile(args[4]))
	if text != "" {
		if !strings.HasSuffix(text, "\n") {
			fail("proof file does not end in newline")
		}
		for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
			h, err := parseHash(l)
			if err != nil {
				fail("proof line %d: %v", i+1, err)
			}
			proof = append(proof, h)
		}
	}
	if oldSize > newSize {
		fail("old size %d > new size %d", oldSize, newSize)
	}
	if oldSize == 0 {
		// Every tree extends the empty one; Go's CheckTree wants n >= 1.
		if len(proof) != 0 || oldRoot != emptyRoot() {
			fail("consistency from the empty tree: want no proof and the empty root")
		}
		fmt.Println("OK")
		return
	}
	if err := tlog.CheckTree(proof, newSize, newRoot, oldSize, oldRoot); err != nil {
		fail("consistency %d -> %d: %v", oldSize, newSize, err)
	}
	fmt.Println("OK")
}

func cmdTiles(args []string) {
	if len(args) != 3 {
		usage()
	}
	n := openNote(keyArg(args[0]), readFile(args[1]))
	c, err := parseCheckpoint(n.Text)
	if err != nil {
		fail("%v", err)
	}
	if c.size == 0 {
		if c.root != emptyRoot() {
			fail("empty tree with root %s, want %s", c.root, emptyRoot())
		}
		fmt.Println("OK")
		return
	}
	tree := tlog.Tree{N: c.size, Hash: c.root}
	hr := tlog.TileHashReader(tree, dirTiles{dir: args[2]})
	// Every leaf hash, in batches; each batch is authenticated against
	// the checkpoint's root by TileHashReader.
	const batch = 4096
	for lo := int64(0); lo < c.size; lo += batch {
		hi := lo + batch
		if hi > c.size {
			hi = c.size
		}
		idx := make([]int64, 0, hi-lo)
		for i := lo; i < hi; i++ {
			idx = append(idx, tlog.StoredHashIndex(0, i))
		}
		hs, err := hr.ReadHashes(idx)
		if err != nil {
			fail("leaf hashes [%d, %d): %v", lo, hi, err)
		}
		if len(hs) != len(idx) {
			fail("leaf hashes [%d, %d): got %d", lo, hi, len(hs))
		}
	}
	root, err := tlog.TreeHash(c.size, hr)
	if err != nil {
		fail("tree hash: %v", err)
	}
	if root != c.root {
		fail("tree hash %s, checkpoint says %s", root, c.root)
	}
	fmt.Println("OK")
}

func cmdSign(args []string) {
	if len(args) != 2 {
		usage()
	}
	s, err := note.NewSigner(keyArg(args[0]))
	if err != nil {
		fail("signer key: %v", err)
	}
	msg, err := note.Sign(&note.Note{Text: string(readFile(args[1]))}, s)
	if err != nil {
		fail("sign: %v", err)
	}
	os.Stdout.Write(msg)
}

func cmdKeygen(args []string) {
	if len(args) != 1 {
		usage()
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, args[0])
	if err != nil {
		fail("keygen: %v", err)
	}
	fmt.Printf("%s\n%s\n", skey, vkey)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "note":
		cmdNote(args)
	case "checkpoint":
		cmdCheckpoint(args)
	case "inclusion":
		cmdInclusion(args)
	case "consistency":
		cmdConsistency(args)
	case "tiles":
		cmdTiles(args)
	case "sign":
		cmdSign(args)
	case "keygen":
		cmdKeygen(args)
	default:
		usage()
	}
}
