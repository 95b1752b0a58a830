package ckpt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sextantdb/sextant/internal/storage/vfs"
)

// ManifestName is the name of the file naming the current checkpoint.
const ManifestName = "MANIFEST"

const (
	fileMagic     = "SXCK"
	manifestMagic = "SXMF"
	version       = 1

	fileHeaderSize     = 16 // magic, version, length
	manifestHeaderSize = 20 // magic, version, checkpoint, meta length
	crcSize            = 4

	// maxManifestMeta bounds the meta blob, so that a damaged length cannot
	// make ReadManifest allocate a lot.
	maxManifestMeta = 64 << 20
)

var (
	// ErrBadNumber is returned by Write for checkpoint number 0 or one that
	// is not greater than the current one.
	ErrBadNumber = errors.New("ckpt: checkpoint number must be greater than the current one and not 0")
	// ErrBadName is returned by Write for an empty, duplicate or path-like
	// file name.
	ErrBadName = errors.New("ckpt: bad file name")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CorruptionError reports a damaged checkpoint file or MANIFEST.
type CorruptionError struct {
	File   string // path of the file
	Offset int64  // where the problem was found
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("ckpt: corruption in %s at offset %d: %s", e.File, e.Offset, e.Reason)
}

// IsCorruption reports whether err is or wraps a *CorruptionError.
func IsCorruption(err error) bool {
	var ce *CorruptionError
	return errors.As(err, &ce)
}

// File is one named blob of a checkpoint.
type File struct {
	Name string
	Data []byte
}

// Manifest is the content of MANIFEST.
type Manifest struct {
	Checkpoint uint64
	Meta       []byte
}

// DirName returns the directory name of checkpoint n: "ckpt-%06d".
func DirName(n uint64) string { return fmt.Sprintf("ckpt-%06d", n) }

func parseDirName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, "ckpt-")
	if !ok {
		return 0, false
	}
	return parseNumber(digits)
}

// parseNumber parses the number of a checkpoint or segment name: at least
// six decimal digits.
func parseNumber(digits string) (uint64, bool) {
	if len(digits) < 6 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// AppendFile appends the framed encoding of payload to dst.
func AppendFile(dst, payload []byte) []byte {
	dst = append(dst, fileMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, version)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(len(payload)))
	dst = append(dst, payload...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(payload, castagnoli))
}

// decodeFile checks the framing of a checkpoint file and returns its payload
// (aliasing b), or the offset and reason of the problem.
func decodeFile(b []byte) (payload []byte, off int64, reason string) {
	switch {
	case len(b) < fileHeaderSize+crcSize:
		return nil, 0, "file too short"
	case string(b[:4]) != fileMagic:
		return nil, 0, "bad magic"
	case binary.LittleEndian.Uint32(b[4:8]) != version:
		return nil, 4, fmt.Sprintf("unknown version %d", binary.LittleEndian.Uint32(b[4:8]))
	}
	n := binary.LittleEndian.Uint64(b[8:16])
	if n != uint64(len(b)-fileHeaderSize-crcSize) {
		return nil, 8, fmt.Sprintf("payload length %d does not match file size %d", n, len(b))
	}
	payload = b[fileHeaderSize : fileHeaderSize+n]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[fileHeaderSize+n:]) {
		return nil, int64(fileHeaderSize + n), "payload checksum mismatch"
	}
	return payload, 0, ""
}

func appendManifest(dst []byte, m Manifest) []byte {
	start := len(dst)
	dst = append(dst, manifestMagic...)
	dst = binary.LittleEndian.AppendUint32(dst, version)
	dst = binary.LittleEndian.AppendUint64(dst, m.Checkpoint)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(m.Meta)))
	dst = append(dst, m.Meta...)
	return binary.LittleEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

func decodeManifest(b []byte) (m Manifest, off int64, reason string) {
	switch {
	case len(b) < manifestHeaderSize+crcSize:
		return m, 0, "file too short"
	case string(b[:4]) != manifestMagic:
		return m, 0, "bad magic"
	case binary.LittleEndian.Uint32(b[4:8]) != version:
		return m, 4, fmt.Sprintf("unknown version %d", binary.LittleEndian.Uint32(b[4:8]))
	}
	n := uint64(binary.LittleEndian.Uint32(b[16:20]))
	if n != uint64(len(b)-manifestHeaderSize-crcSize) {
		return m, 16, fmt.Sprintf("meta length %d does not match file size %d", n, len(b))
	}
	end := manifestHeaderSize + int(n)
	if crc32.Checksum(b[:end], castagnoli) != binary.LittleEndian.Uint32(b[end:]) {
		return m, int64(end), "checksum mismatch"
	}
	m.Checkpoint = binary.LittleEndian.Uint64(b[8:16])
	if m.Checkpoint == 0 {
		return Manifest{}, 8, "checkpoint number 0"
	}
	m.Meta = b[manifestHeaderSize:end]
	return m, 0, ""
}

// readAll reads a whole file, refusing files larger than limit (0: none).
func readAll(fsys vfs.FS, path string, limit int64) ([]byte, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if limit > 0 && size > limit {
		return nil, &CorruptionError{File: path, Reason: fmt.Sprintf("file size %d exceeds %d", size, limit)}
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, size), b); err != nil {
		return nil, err
	}
	return b, nil
}

// ReadManifest reads dir/MANIFEST. ok is false if there is none.
func ReadManifest(fsys vfs.FS, dir string) (m Manifest, ok bool, err error) {
	path := filepath.Join(dir, ManifestName)
	b, err := readAll(fsys, path, manifestHeaderSize+maxManifestMeta+crcSize)
	if err != nil {
		if vfs.IsNotExist(err) {
			return Manifest{}, false, nil
		}
		if IsCorruption(err) {
			return Manifest{}, false, err
		}
		return Manifest{}, false, fmt.Errorf("ckpt: read %s: %w", path, err)
	}
	m, off, reason := decodeManifest(b)
	if reason != "" {
		return Manifest{}, false, &CorruptionError{File: path, Offset: off, Reason: reason}
	}
	return m, true, nil
}

// ReadFile reads file name of checkpoint n in dir and verifies its framing
// and checksum.
func ReadFile(fsys vfs.FS, dir string, n uint64, name string) ([]byte, error) {
	path := filepath.Join(dir, DirName(n), name)
	b, err := readAll(fsys, path, 0)
	if err != nil {
		return nil, fmt.Errorf("ckpt: read %s: %w", path, err)
	}
	payload, off, reason := decodeFile(b)
	if reason != "" {
		return nil, &CorruptionError{File: path, Offset: off, Reason: reason}
	}
	return payload, nil
}

func validName(name string) bool {
	return name != "" && name != "." && name != ".." && name != ManifestName &&
		!strings.ContainsAny(name, `/\`) && !strings.HasSuffix(name, vfs.TmpSuffix)
}

// Write writes checkpoint n holding files and makes it current with a MANIFEST
// carrying meta, then removes older checkpoints. n must be greater than the
// current checkpoint. When Write returns nil the checkpoint is durable; a
// crash at any point leaves either the old or the new checkpoint current.
func Write(fsys vfs.FS, dir string, n uint64, files []File, meta []byte) error {
	cur, ok, err := ReadManifest(fsys, dir)
	if err != nil {
		return err
	}
	if n == 0 || (ok && n <= cur.Checkpoint) {
		return fmt.Errorf("%w: got %d, current %d", ErrBadNumber, n, cur.Checkpoint)
	}
	seen := make(map[string]bool, len(files))
	for _, f := range files {
		if !validName(f.Name) || seen[f.Name] {
			return fmt.Errorf("%w: %q", ErrBadName, f.Name)
		}
		seen[f.Name] = true
	}
	if len(meta) > maxManifestMeta {
		return fmt.Errorf("ckpt: meta of %d bytes exceeds %d", len(meta), maxManifestMeta)
	}

	if err := vfs.MkdirAllDurable(fsys, dir); err != nil {
		return fmt.Errorf("ckpt: create %s: %w", dir, err)
	}
	final := filepath.Join(dir, DirName(n))
	tmp := final + vfs.TmpSuffix
	if err := fsys.RemoveAll(tmp); err != nil {
		return fmt.Errorf("ckpt: write %s: %w", tmp, err)
	}
	if err := fsys.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("ckpt: write %s: %w", tmp, err)
	}
	var buf []byte
	for _, f := range files {
		buf = AppendFile(buf[:0], f.Data)
		if err := writeSynced(fsys, filepath.Join(tmp, f.Name), buf); err != nil {
			return err
		}
	}
	if err := vfs.SyncDir(fsys, tmp); err != nil {
		return fmt.Errorf("ckpt: sync %s: %w", tmp, err)
	}
	// A ckpt-N left by an earlier, interrupted Write is not current (n is
	// greater than the current checkpoint): replace it.
	if err := fsys.RemoveAll(final); err != nil {
		return fmt.Errorf("ckpt: write %s: %w", final, err)
	}
	if err := fsys.Rename(tmp, final); err != nil {
		return fmt.Errorf("ckpt: rename %s: %w", tmp, err)
	}
	if err := vfs.SyncDir(fsys, dir); err != nil {
		return fmt.Errorf("ckpt: sync %s: %w", dir, err)
	}
	if err := vfs.WriteFileAtomic(fsys, filepath.Join(dir, ManifestName), appendManifest(nil, Manifest{Checkpoint: n, Meta: meta})); err != nil {
		return fmt.Errorf("ckpt: %w", err)
	}
	return Sweep(fsys, dir, n)
}

func writeSynced(fsys vfs.FS, path string, data []byte) error {
	f, err := fsys.Create(path)
	if err != nil {
		return fmt.Errorf("ckpt: create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("ckpt: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("ckpt: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ckpt: close %s: %w", path, err)
	}
	return nil
}

// Sweep removes the *.tmp entries of dir and every ckpt-* directory other than
// checkpoint current (0: none is current), then fsyncs dir. Call it on open
// with the MANIFEST's checkpoint.
func Sweep(fsys vfs.FS, dir string, current uint64) error {
	if err := vfs.SweepTmp(fsys, dir); err != nil {
		return fmt.Errorf("ckpt: %w", err)
	}
	return removeWhere(fsys, dir, fsys.RemoveAll, func(name string) bool {
		k, ok := parseDirName(name)
		return ok && k != current
	})
}

// removeWhere removes (with remove) the entries of dir that drop names, then
// fsyncs dir if it removed any. A missing dir holds nothing.
func removeWhere(fsys vfs.FS, dir string, remove func(string) error, drop func(name string) bool) error {
	names, err := fsys.List(dir)
	if err != nil {
		if vfs.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("ckpt: sweep %s: %w", dir, err)
	}
	removed := false
	for _, name := range names {
		if drop(name) {
			if err := remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("ckpt: sweep %s: %w", dir, err)
			}
			removed = true
		}
	}
	if removed {
		if err := vfs.SyncDir(fsys, dir); err != nil {
			return fmt.Errorf("ckpt: sweep %s: %w", dir, err)
		}
	}
	return nil
}
