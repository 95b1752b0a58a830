package engine

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/sextantdb/sextant/internal/payload"
)

// WAL records (docs/format/records.md). The first byte is the record's
// kind; kind 1 is the first format's batch (no index, no time), still read:
//
//	record     := kind(u8) body
//	kind 1     := count(uvarint) op*                              (legacy batch)
//	kind 2     := index(uvarint) time(varint) count(uvarint) op*   (batch, no longer written)
//	kind 3     := index(uvarint) time(varint) section*             (guardrail state)
//	kind 4     := index(uvarint) time(varint) command              (command.go)
//	op         := kind(u8) id(str) body
//	put        := flags(u8: 1 = has document) [doc(str)] meta(map) dim(uvarint) f32*dim
//	set        := flags(u8: 1 = set document, 2 = set metadata) [doc(str)] [meta(map)]
//	del        := (empty)
//	section    := tag(u8) len(uvarint) bytes      (guardrails.go)
//	str        := len(uvarint) bytes
//
// index is the record's position in the collection's log (1, 2, 3, ... with
// no gap; the checkpoint records the last one it covers), time the writer's
// clock in Unix nanoseconds. map is payload.AppendMap's encoding. Vectors are
// stored as the caller gave them (before normalization), so replay
// reproduces the same state and the same drift verdicts.
const (
	recLegacyBatch = 1
	recBatch       = 2
	recGuardrails  = 3
)

type opKind uint8

const (
	opPut opKind = iota + 1 // insert or replace a record with a new vector
	opSet                   // change metadata and/or document, keep the vector
	opDel                   // delete
)

type op struct {
	kind    opKind
	id      string
	vec     []float32 // opPut: as given
	meta    payload.Map
	doc     *string
	setDoc  bool // opSet
	setMeta bool // opSet
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendGuardrailRecord appends the WAL record of guardrail state sections.
func appendGuardrailRecord(dst []byte, index uint64, at int64, sections []byte) []byte {
	dst = append(dst, recGuardrails)
	dst = binary.AppendUvarint(dst, index)
	dst = binary.AppendVarint(dst, at)
	return append(dst, sections...)
}

// walRecord is a decoded WAL record.
type walRecord struct {
	kind  byte
	index uint64   // 0 for a legacy batch
	at    int64    // Unix nanoseconds; 0 for a legacy batch
	ops   []op     // batches (kinds 1 and 2)
	cmd   *Command // kind 4
	guard []byte   // guardrail sections (aliasing the input)
}

// decodeRecord decodes one WAL record of any kind.
func decodeRecord(b []byte) (walRecord, error) {
	r := payload.Reader{B: b}
	rec := walRecord{kind: r.Byte()}
	if r.Err != nil {
		return rec, fmt.Errorf("empty WAL record: %w", payload.ErrCorrupt)
	}
	switch rec.kind {
	case recLegacyBatch:
	case recBatch, recGuardrails, recCommand:
		rec.index = r.Uvarint()
		rec.at = r.Varint()
		if r.Err != nil || rec.index == 0 {
			return rec, fmt.Errorf("WAL record header: %w", payload.ErrCorrupt)
		}
	default:
		return rec, fmt.Errorf("unknown WAL record kind %d", rec.kind)
	}
	switch rec.kind {
	case recGuardrails:
		rec.guard = r.B
		return rec, nil
	case recCommand:
		cmd, err := decodeCommand(&r)
		rec.cmd = cmd
		return rec, err
	}
	ops, err := decodeOps(&r)
	rec.ops = ops
	return rec, err
}

// decodeOps decodes the op list of a batch, the rest of r.
func decodeOps(r *payload.Reader) ([]op, error) {
	n := r.Uvarint()
	if r.Err != nil || n > uint64(len(r.B)) {
		return nil, fmt.Errorf("batch op count: %w", payload.ErrCorrupt)
	}
	ops := make([]op, 0, n)
	for i := uint64(0); i < n && r.Err == nil; i++ {
		o := op{kind: opKind(r.Byte()), id: r.String()}
		switch o.kind {
		case opPut:
			flags := r.Byte()
			if flags&1 != 0 {
				s := r.String()
				o.doc = &s
			}
			o.meta = r.Map()
			o.vec = readVector(r)
		case opSet:
			flags := r.Byte()
			if flags&1 != 0 {
				o.setDoc = true
				s := r.String()
				o.doc = &s
			}
			if flags&2 != 0 {
				o.setMeta = true
				o.meta = r.Map()
			}
		case opDel:
		default:
			return nil, fmt.Errorf("op %d: unknown kind %d", i, o.kind)
		}
		ops = append(ops, o)
	}
	if r.Err != nil {
		return nil, fmt.Errorf("decode batch: %w", r.Err)
	}
	if len(r.B) != 0 {
		return nil, fmt.Errorf("decode batch: %d trailing bytes", len(r.B))
	}
	return ops, nil
}

// ckptMeta is the checkpoint's manifest meta blob (JSON). Version 1 has
// vectors and records files in the checkpoint; version 2 lists segments
// instead (docs/format/segments.md).
type ckptMeta struct {
	Version    int       `json:"version"`
	Dim        int       `json:"dim"`
	Slots      uint32    `json:"slots"`       // slots in use
	Seq        uint64    `json:"seq"`         // last record sequence number
	WALSegment int       `json:"wal_segment"` // replay starts at this segment
	Graph      bool      `json:"graph"`       // a graph file is present
	Applied    uint64    `json:"applied"`     // index of the last WAL record covered
	Guardrails bool      `json:"guardrails"`  // a guardrails file is present
	Segments   []segInfo `json:"segments,omitempty"`
}

// segInfo names one segment of a checkpoint, with what open checks it holds.
type segInfo struct {
	N       uint64 `json:"n"`
	Bytes   int64  `json:"bytes"`
	Entries uint64 `json:"entries"`
}

func (m ckptMeta) encode() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic("BUG: " + err.Error())
	}
	return b
}

// appendRecord appends a record's persisted fields, as the records file of
// version 1 and segment entries hold them:
//
//	seq(uvarint) id(str) norm(f32) flags(u8: 1 = has doc) [doc(str)] meta(map)
func appendRecord(dst []byte, r *record) []byte {
	dst = binary.AppendUvarint(dst, r.seq)
	dst = appendStr(dst, r.id)
	dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(r.norm))
	if r.doc != nil {
		dst = append(dst, 1)
		dst = appendStr(dst, *r.doc)
	} else {
		dst = append(dst, 0)
	}
	return payload.AppendMap(dst, r.meta)
}

// readRecord reads what appendRecord appends; errors are left in r.Err.
func readRecord(r *payload.Reader) record {
	var rec record
	rec.seq = r.Uvarint()
	rec.id = r.String()
	rec.norm = math.Float32frombits(r.Uint32())
	if r.Byte() == 1 {
		s := r.String()
		rec.doc = &s
	}
	rec.meta = r.Map()
	return rec
}

// The records file (version 1) is count(uvarint), then per live slot its
// slot (uvarint) and appendRecord's fields.

type decodedRecord struct {
	slot uint32
	rec  record
}

func decodeRecords(b []byte, slots uint32) ([]decodedRecord, error) {
	r := payload.Reader{B: b}
	n := r.Uvarint()
	if r.Err != nil || n > uint64(len(b)) || n > uint64(slots) {
		return nil, fmt.Errorf("records count %d: %w", n, payload.ErrCorrupt)
	}
	out := make([]decodedRecord, 0, n)
	for i := uint64(0); i < n && r.Err == nil; i++ {
		s := r.Uvarint()
		if s >= uint64(slots) {
			return nil, fmt.Errorf("record %d: slot %d out of range %d", i, s, slots)
		}
		out = append(out, decodedRecord{slot: uint32(s), rec: readRecord(&r)})
	}
	if r.Err != nil {
		return nil, fmt.Errorf("decode records: %w", r.Err)
	}
	return out, nil
}
