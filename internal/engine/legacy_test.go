package engine

import (
	"encoding/binary"
	"fmt"

	"github.com/sextantdb/sextant/internal/payload"
)

// appendBatch appends the WAL record of a write batch in the second format
// (kind 2), which the engine no longer writes but replays: tests write old
// logs with it.
func appendBatch(dst []byte, index uint64, at int64, ops []op) []byte {
	dst = append(dst, recBatch)
	dst = binary.AppendUvarint(dst, index)
	dst = binary.AppendVarint(dst, at)
	dst = binary.AppendUvarint(dst, uint64(len(ops)))
	for i := range ops {
		o := &ops[i]
		dst = append(dst, byte(o.kind))
		dst = appendStr(dst, o.id)
		switch o.kind {
		case opPut:
			var flags byte
			if o.doc != nil {
				flags |= 1
			}
			dst = append(dst, flags)
			if o.doc != nil {
				dst = appendStr(dst, *o.doc)
			}
			dst = payload.AppendMap(dst, o.meta)
			dst = appendVector(dst, o.vec)
		case opSet:
			var flags byte
			if o.setDoc {
				flags |= 1
			}
			if o.setMeta {
				flags |= 2
			}
			dst = append(dst, flags)
			if o.setDoc {
				var s string
				if o.doc != nil {
					s = *o.doc
				}
				dst = appendStr(dst, s)
			}
			if o.setMeta {
				dst = payload.AppendMap(dst, o.meta)
			}
		case opDel:
		default:
			panic(fmt.Sprintf("BUG: op kind %d", o.kind))
		}
	}
	return dst
}
