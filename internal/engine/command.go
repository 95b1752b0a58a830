package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/sextantdb/sextant/internal/filter"
	"github.com/sextantdb/sextant/internal/payload"
)

// CommandKind names what a Command does: the intents a writer logs. Each is
// validated against the shard's state when it is applied (apply.go).
type CommandKind uint8

// Command kinds. Their numbers are stored in the log (docs/format/records.md).
const (
	// CmdAdd inserts new records; an id that exists refuses the command.
	CmdAdd CommandKind = iota + 1
	// CmdAddSkipExisting inserts the records whose ids do not exist and
	// skips the others (Chroma's add).
	CmdAddSkipExisting
	// CmdUpsert inserts records or replaces them whole.
	CmdUpsert
	// CmdUpsertMerge updates the records that exist (metadata merged key by
	// key) and inserts the others, which need a vector (Chroma's upsert).
	CmdUpsertMerge
	// CmdUpdate changes existing records; a missing id refuses the command.
	CmdUpdate
	// CmdUpdateIgnoreMissing changes the records that exist and skips the
	// missing ids (Chroma's update).
	CmdUpdateIgnoreMissing
	// CmdDelete removes the records among IDs (nil: all records) that
	// match Filter (nil: every one). Missing ids are not an error.
	CmdDelete
	cmdKinds // first unused kind
)

var cmdNames = [...]string{CmdAdd: "add", CmdAddSkipExisting: "add-skip-existing", CmdUpsert: "upsert",
	CmdUpsertMerge: "upsert-merge", CmdUpdate: "update", CmdUpdateIgnoreMissing: "update-ignore-missing", CmdDelete: "delete"}

func (k CommandKind) String() string {
	if k > 0 && k < cmdKinds {
		return cmdNames[k]
	}
	return fmt.Sprintf("command(%d)", uint8(k))
}

// Command is one write intent: what the caller asked for, not what it
// resolves to. It is logged as it is, and the shard resolves it against its
// state at apply time, so that replay (and a raft follower) reaches the same
// state from the same log.
type Command struct {
	Kind CommandKind
	// Rules is the version of the input rules (apply.go, validate) the
	// command was accepted under: a record is validated on replay with the
	// rules it was logged under, not with this build's, so that a later
	// build that tightens a rule still replays what an older one accepted.
	// 0 is RulesVersion; the writer logs the version it validated with.
	Rules   uint32
	Puts    []Put          // CmdAdd, CmdAddSkipExisting, CmdUpsert
	Updates []Update       // CmdUpdate, CmdUpdateIgnoreMissing, CmdUpsertMerge
	IDs     []string       // CmdDelete; nil: every record (Filter is then set)
	Filter  *filter.Filter // CmdDelete; nil: no condition
}

// RulesVersion is the version of the input rules this build validates
// writes with. Version 1: ids of 1 to 4096 bytes, no id twice in a command,
// vectors non-empty, of the collection's dimension, finite, and not the
// zero vector under cosine; a delete names ids or a filter.
const RulesVersion = 1

// rules is the version cmd is validated with.
func (cmd *Command) rules() uint32 {
	if cmd.Rules == 0 {
		return RulesVersion
	}
	return cmd.Rules
}

func (k CommandKind) puts() bool { return k == CmdAdd || k == CmdAddSkipExisting || k == CmdUpsert }
func (k CommandKind) updates() bool {
	return k == CmdUpsertMerge || k == CmdUpdate || k == CmdUpdateIgnoreMissing
}

// mayInsert reports whether cmd may write a vector (and so need a slot).
func (cmd *Command) mayInsert() bool {
	switch {
	case cmd.Kind.puts():
		return true
	case cmd.Kind.updates():
		for i := range cmd.Updates {
			if cmd.Updates[i].Vector != nil {
				return true
			}
		}
	}
	return false
}

// empty reports whether cmd can change nothing whatever the state.
func (cmd *Command) empty() bool {
	switch {
	case cmd.Kind.puts():
		return len(cmd.Puts) == 0
	case cmd.Kind.updates():
		return len(cmd.Updates) == 0
	case cmd.Kind == CmdDelete:
		return cmd.IDs != nil && len(cmd.IDs) == 0
	}
	return false
}

// Result is what applying a Command did.
type Result struct {
	// Index is the log index the command was applied at (0 when it was
	// refused before it was logged, or changed nothing).
	Index uint64
	// Changed counts the records inserted, changed or deleted.
	Changed int
	// Err, when set, says why the shard refused the command (naming the
	// record, see errs.Record); nothing of it was applied.
	Err error

	ops []op // what the command resolved to, in apply order
}

// recCommand is the WAL record kind of a Command.
const recCommand = 4

// Flags of an encoded put and update.
const (
	putHasDoc = 1 << 0

	updHasVector = 1 << 0
	updSetDoc    = 1 << 1
	updHasDoc    = 1 << 2

	delHasIDs    = 1 << 0
	delHasFilter = 1 << 1

	// cmdHasRules, in the command's kind byte, says that the version of
	// its input rules follows (a uvarint, 2 or more); without it the
	// command is of version 1, as every record before the bit was.
	cmdHasRules = 1 << 7
)

// cmdHeaderRoom is the room appendCommandBody leaves at the front of its
// output for the record header (kind, index, time), filled in by
// putRecordHeader once the index is known.
const cmdHeaderRoom = 1 + binary.MaxVarintLen64*2

// appendCommandBody appends cmd's encoding after cmdHeaderRoom free bytes:
//
//	cmd     := kind(u8; bit 7 = rules follow) [rules(uvarint) >= 2] body
//	puts    := count(uvarint) (id(str) flags(u8) [doc(str)] meta(map) vector)*
//	updates := count(uvarint) (id(str) flags(u8) [doc(str)] meta(map) delkeys [vector])*
//	delete  := flags(u8) [count(uvarint) id(str)*] [len(uvarint) filter]
//	vector  := dim(uvarint) f32*dim
//	delkeys := count(uvarint) str*
func appendCommandBody(dst []byte, cmd *Command) []byte {
	dst = append(dst, make([]byte, cmdHeaderRoom)...)
	if v := cmd.rules(); v != 1 {
		dst = append(dst, byte(cmd.Kind)|cmdHasRules)
		dst = binary.AppendUvarint(dst, uint64(v))
	} else {
		dst = append(dst, byte(cmd.Kind))
	}
	switch {
	case cmd.Kind.puts():
		dst = binary.AppendUvarint(dst, uint64(len(cmd.Puts)))
		for i := range cmd.Puts {
			p := &cmd.Puts[i]
			dst = appendStr(dst, p.ID)
			var flags byte
			if p.Doc != nil {
				flags |= putHasDoc
			}
			dst = append(dst, flags)
			if p.Doc != nil {
				dst = appendStr(dst, *p.Doc)
			}
			dst = payload.AppendMap(dst, p.Meta)
			dst = appendVector(dst, p.Vector)
		}
	case cmd.Kind.updates():
		dst = binary.AppendUvarint(dst, uint64(len(cmd.Updates)))
		for i := range cmd.Updates {
			u := &cmd.Updates[i]
			dst = appendStr(dst, u.ID)
			var flags byte
			if u.Vector != nil {
				flags |= updHasVector
			}
			if u.SetDoc {
				flags |= updSetDoc
			}
			if u.Doc != nil {
				flags |= updHasDoc
			}
			dst = append(dst, flags)
			if u.Doc != nil {
				dst = appendStr(dst, *u.Doc)
			}
			dst = payload.AppendMap(dst, u.Meta)
			dst = binary.AppendUvarint(dst, uint64(len(u.DeleteKeys)))
			for _, k := range u.DeleteKeys {
				dst = appendStr(dst, k)
			}
			if u.Vector != nil {
				dst = appendVector(dst, u.Vector)
			}
		}
	case cmd.Kind == CmdDelete:
		var flags byte
		if cmd.IDs != nil {
			flags |= delHasIDs
		}
		if cmd.Filter != nil {
			flags |= delHasFilter
		}
		dst = append(dst, flags)
		if cmd.IDs != nil {
			dst = binary.AppendUvarint(dst, uint64(len(cmd.IDs)))
			for _, id := range cmd.IDs {
				dst = appendStr(dst, id)
			}
		}
		if cmd.Filter != nil {
			fb := cmd.Filter.AppendBinary(nil)
			dst = binary.AppendUvarint(dst, uint64(len(fb)))
			dst = append(dst, fb...)
		}
	default:
		panic(fmt.Sprintf("BUG: encode %v", cmd.Kind))
	}
	return dst
}

// putRecordHeader writes the header of a command record (kind 4, index,
// time) into the room appendCommandBody left before the body, and returns
// the record.
func putRecordHeader(b []byte, index uint64, at int64) []byte {
	var h [cmdHeaderRoom]byte
	h[0] = recCommand
	n := 1 + binary.PutUvarint(h[1:], index)
	n += binary.PutVarint(h[n:], at)
	start := cmdHeaderRoom - n
	copy(b[start:], h[:n])
	return b[start:]
}

func appendVector(dst []byte, v []float32) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	for _, f := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
	}
	return dst
}

func readVector(r *payload.Reader) []float32 {
	d := r.Uvarint()
	raw := r.Bytes(d * 4)
	if r.Err != nil {
		return nil
	}
	v := make([]float32, d)
	for j := range v {
		v[j] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:]))
	}
	return v
}

// errCorruptCommand marks a command record that does not decode.
var errCorruptCommand = errors.New("corrupt command")

// decodeCommand decodes a command body (the rest of r).
func decodeCommand(r *payload.Reader) (*Command, error) {
	kb := r.Byte()
	if r.Err != nil {
		return nil, fmt.Errorf("%w: no kind", errCorruptCommand)
	}
	cmd := &Command{Kind: CommandKind(kb &^ cmdHasRules), Rules: 1}
	if kb&cmdHasRules != 0 {
		v := r.Uvarint()
		if r.Err != nil || v < 2 || v > math.MaxUint32 {
			// Version 1 is written as no version (one encoding per command).
			return nil, fmt.Errorf("%w: rules version %d", errCorruptCommand, v)
		}
		cmd.Rules = uint32(v)
	}
	count := func(minSize int) int {
		n := r.Uvarint()
		if r.Err != nil || n > uint64(len(r.B)/minSize) {
			r.Err = payload.ErrCorrupt
			return 0
		}
		return int(n)
	}
	switch {
	case cmd.Kind.puts():
		n := count(4)
		if n > 0 {
			cmd.Puts = make([]Put, n)
		}
		for i := 0; i < n && r.Err == nil; i++ {
			p := &cmd.Puts[i]
			p.ID = r.String()
			flags := r.Byte()
			if flags&^putHasDoc != 0 {
				return nil, fmt.Errorf("%w: put %d: flags %#x", errCorruptCommand, i, flags)
			}
			if flags&putHasDoc != 0 {
				s := r.String()
				p.Doc = &s
			}
			p.Meta = r.Map()
			p.Vector = readVector(r)
		}
	case cmd.Kind.updates():
		n := count(5)
		if n > 0 {
			cmd.Updates = make([]Update, n)
		}
		for i := 0; i < n && r.Err == nil; i++ {
			u := &cmd.Updates[i]
			u.ID = r.String()
			flags := r.Byte()
			if flags&^(updHasVector|updSetDoc|updHasDoc) != 0 {
				return nil, fmt.Errorf("%w: update %d: flags %#x", errCorruptCommand, i, flags)
			}
			u.SetDoc = flags&updSetDoc != 0
			if flags&updHasDoc != 0 {
				s := r.String()
				u.Doc = &s
			}
			u.Meta = r.Map()
			if len(u.Meta) == 0 {
				u.Meta = nil
			}
			if k := count(1); k > 0 {
				u.DeleteKeys = make([]string, k)
				for j := range u.DeleteKeys {
					u.DeleteKeys[j] = r.String()
				}
			}
			if flags&updHasVector != 0 {
				u.Vector = readVector(r)
			}
		}
	case cmd.Kind == CmdDelete:
		flags := r.Byte()
		if flags&^(delHasIDs|delHasFilter) != 0 || flags == 0 {
			return nil, fmt.Errorf("%w: delete flags %#x", errCorruptCommand, flags)
		}
		if flags&delHasIDs != 0 {
			n := count(1)
			cmd.IDs = make([]string, n)
			for i := 0; i < n && r.Err == nil; i++ {
				cmd.IDs[i] = r.String()
			}
		}
		if flags&delHasFilter != 0 {
			fb := r.Bytes(r.Uvarint())
			if r.Err == nil {
				f, err := filter.DecodeBinary(fb)
				if err != nil {
					return nil, fmt.Errorf("%w: delete filter: %w", errCorruptCommand, err)
				}
				cmd.Filter = f
			}
		}
	default:
		return nil, fmt.Errorf("%w: unknown kind %d", errCorruptCommand, cmd.Kind)
	}
	if r.Err != nil {
		return nil, fmt.Errorf("%w: %v: %w", errCorruptCommand, cmd.Kind, r.Err)
	}
	if len(r.B) != 0 {
		return nil, fmt.Errorf("%w: %v: %d trailing bytes", errCorruptCommand, cmd.Kind, len(r.B))
	}
	return cmd, nil
}
