package hnsw

// Serialized graph layout (version 1). All integers are little-endian.
//
//	offset  size  field
//	0       6     magic "SXHNSW"
//	6       2     version = 1 (u16)
//	8       4     M (u32); layer 0 holds up to 2*M neighbours, upper layers M
//	12      4     n: number of slot records that follow (highest slot in the graph + 1)
//	16      4     entry point slot (u32; 0xFFFFFFFF when the graph is empty)
//	20      1     top level (u8; 0 when empty)
//	21      ...   n slot records, for slots 0..n-1:
//	                u8 flags: 0 = slot not in the graph (nothing follows);
//	                          1 = live node; 3 = tombstoned node. Other values are invalid.
//	                then, for a node:
//	                u8 level (0..31), then for each layer 0..level:
//	                  u16 count (<= 2*M on layer 0, <= M above), count × u32 neighbour slots
//
// The vectors are not part of the blob; the engine stores and checksums them
// (and the blob) itself. Decode validates every field and edge.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/sextantdb/sextant/internal/index/score"
	"github.com/sextantdb/sextant/internal/vec"
)

const (
	codecMagic   = "SXHNSW"
	codecVersion = 1
	headerSize   = 21
	noEntry      = 0xFFFFFFFF
)

// AppendBinary appends the serialized graph (layout above) to dst. It holds
// the graph shared: Search and Delete go on meanwhile (a node deleted
// meanwhile may be written live or tombstoned), but the caller must keep
// Insert, Reinforce and Repair out for the output to be one consistent
// graph (Reconnect's relinking holds the graph exclusively, so it is
// either in the output or not). The output is a function of the graph's
// structure only: equal graphs give equal bytes.
func (g *Graph) AppendBinary(dst []byte) []byte {
	g.mu.RLock()
	defer g.mu.RUnlock()
	capN := g.capacity()
	n := 0
	for slot := capN - 1; slot >= 0; slot-- {
		if g.stateOf(uint32(slot))&statePresent != 0 {
			n = slot + 1
			break
		}
	}
	dst = append(dst, codecMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, codecVersion)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(g.m))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	ep, top, ok := g.entry()
	if !ok {
		ep, top = noEntry, 0
	}
	dst = binary.LittleEndian.AppendUint32(dst, ep)
	dst = append(dst, byte(top))
	for slot := uint32(0); int(slot) < n; slot++ {
		st := g.stateOf(slot)
		if st&statePresent == 0 {
			dst = append(dst, 0)
			continue
		}
		flags := byte(1)
		if st&stateDeleted != 0 {
			flags = 3
		}
		lv := levelOf(st)
		dst = append(dst, flags, byte(lv))
		for l := 0; l <= lv; l++ {
			list := listEntries(g.list(slot, l))
			dst = binary.LittleEndian.AppendUint16(dst, uint16(len(list)))
			for _, nb := range list {
				dst = binary.LittleEndian.AppendUint32(dst, nb)
			}
		}
	}
	return dst
}

// errCorrupt is wrapped by every Decode error.
var errCorrupt = errors.New("hnsw: corrupt graph")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, args...))
}

// IsCorrupt reports whether err says a serialized graph is invalid.
func IsCorrupt(err error) bool { return errors.Is(err, errCorrupt) }

// Decode rebuilds a graph from the output of AppendBinary, over the float32
// vectors of a slab, which must hold every slot of the graph: DecodeWithSpace
// with score.NewF32(vectors, cfg.Metric).
func Decode(b []byte, cfg Config, vectors *vec.Slab) (*Graph, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if vectors == nil {
		return nil, errors.New("hnsw: Decode with nil vectors")
	}
	return DecodeWithSpace(b, cfg, score.NewF32(vectors, cfg.Metric))
}

// DecodeWithSpace rebuilds a graph from the output of AppendBinary, over
// space, which must hold every slot of the graph and have cfg's metric. cfg.M
// must equal the M in b. It never panics: any invalid input gives an error
// (IsCorrupt for a bad blob). DecodeWithSpace(AppendBinary(g)) over g's space
// is a graph identical to g.
func DecodeWithSpace(b []byte, cfg Config, space score.Space) (*Graph, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if space == nil {
		return nil, errors.New("hnsw: Decode with a nil space")
	}
	if space.Metric() != cfg.Metric {
		return nil, fmt.Errorf("hnsw: Decode over a %v space with a %v config", space.Metric(), cfg.Metric)
	}
	if len(b) < headerSize {
		return nil, corrupt("%d bytes, shorter than the header", len(b))
	}
	if string(b[:6]) != codecMagic {
		return nil, corrupt("bad magic %q", b[:6])
	}
	if v := binary.LittleEndian.Uint16(b[6:]); v != codecVersion {
		return nil, corrupt("unsupported version %d", v)
	}
	if m := binary.LittleEndian.Uint32(b[8:]); int64(m) != int64(cfg.M) {
		return nil, fmt.Errorf("hnsw: graph was built with M=%d, config has M=%d", m, cfg.M)
	}
	n := int(binary.LittleEndian.Uint32(b[12:]))
	ep := binary.LittleEndian.Uint32(b[16:])
	top := int(b[20])
	if n > len(b)-headerSize {
		return nil, corrupt("%d slot records in %d bytes", n, len(b))
	}
	g := NewWithSpace(cfg, space)
	g.ensure(n)
	p := headerSize
	var nodes, tombs int64
	maxLv := -1
	for slot := uint32(0); int(slot) < n; slot++ {
		if p >= len(b) {
			return nil, corrupt("truncated at slot %d", slot)
		}
		flags := b[p]
		p++
		if flags == 0 {
			continue
		}
		if flags != 1 && flags != 3 {
			return nil, corrupt("slot %d: bad flags %#x", slot, flags)
		}
		if int(slot) >= space.Cap() {
			return nil, fmt.Errorf("hnsw: slot %d in the graph but the space holds %d", slot, space.Cap())
		}
		if p >= len(b) {
			return nil, corrupt("truncated at slot %d", slot)
		}
		lv := int(b[p])
		p++
		if lv > maxLevel {
			return nil, corrupt("slot %d: level %d > %d", slot, lv, maxLevel)
		}
		st := uint32(statePresent) | uint32(lv)<<levelShift
		nodes++
		if flags == 3 {
			st |= stateDeleted
			tombs++
		}
		maxLv = max(maxLv, lv)
		c := (*g.chunks.Load())[slot>>nodeShift]
		c.state[slot&(nodeChunk-1)].Store(st)
		if lv > 0 {
			c.upper[slot&(nodeChunk-1)] = g.allocUpper(lv)
		}
		for l := 0; l <= lv; l++ {
			if p+2 > len(b) {
				return nil, corrupt("slot %d layer %d: truncated", slot, l)
			}
			cnt := int(binary.LittleEndian.Uint16(b[p:]))
			p += 2
			if cnt > g.capOf(l) {
				return nil, corrupt("slot %d layer %d: degree %d > %d", slot, l, cnt, g.capOf(l))
			}
			if p+4*cnt > len(b) {
				return nil, corrupt("slot %d layer %d: truncated", slot, l)
			}
			list := g.list(slot, l)
			for i := 0; i < cnt; i++ {
				nb := binary.LittleEndian.Uint32(b[p:])
				p += 4
				if int64(nb) >= int64(n) {
					return nil, corrupt("slot %d layer %d: edge to %d beyond %d slots", slot, l, nb, n)
				}
				list[1+i] = nb
			}
			atomic.StoreUint32(&list[0], uint32(cnt))
		}
	}
	if p != len(b) {
		return nil, corrupt("%d trailing bytes", len(b)-p)
	}
	if n > 0 && g.stateOf(uint32(n-1))&statePresent == 0 {
		return nil, corrupt("last slot record %d is not a node", n-1)
	}
	g.nodes.Store(nodes)
	g.tombs.Store(tombs)
	switch {
	case nodes == 0:
		if ep != noEntry || top != 0 {
			return nil, corrupt("entry point %d in an empty graph", ep)
		}
	case int64(ep) >= int64(n) || g.stateOf(ep)&statePresent == 0:
		return nil, corrupt("entry point %d is not a node", ep)
	case levelOf(g.stateOf(ep)) != top || top != maxLv:
		return nil, corrupt("entry point %d: level %d, top %d, highest level %d", ep, levelOf(g.stateOf(ep)), top, maxLv)
	default:
		g.ep.Store(packEntry(ep, top))
	}
	if err := g.checkEdges(); err != nil {
		return nil, err
	}
	for slot := uint32(0); int(slot) < n; slot++ {
		if g.stateOf(slot)&statePresent != 0 {
			l := g.list(slot, 0)
			for _, nb := range l[1 : 1+l[0]] {
				g.indeg(nb).Add(1)
			}
		}
	}
	g.queueWeak()
	return g, nil
}

// checkEdges validates every edge of a freshly decoded graph: to a node of a
// high enough level, not to itself, no duplicates.
func (g *Graph) checkEdges() error {
	capN := g.capacity()
	s := g.scratchs.get(capN)
	defer g.scratchs.put(s)
	for slot := uint32(0); int(slot) < capN; slot++ {
		st := g.stateOf(slot)
		if st&statePresent == 0 {
			continue
		}
		for l := 0; l <= levelOf(st); l++ {
			list := g.list(slot, l)
			s.reset(0)
			for _, nb := range list[1 : 1+list[0]] {
				nst := g.stateOf(nb)
				switch {
				case nb == slot:
					return corrupt("slot %d layer %d: edge to itself", slot, l)
				case nst&statePresent == 0:
					return corrupt("slot %d layer %d: edge to absent slot %d", slot, l, nb)
				case levelOf(nst) < l:
					return corrupt("slot %d layer %d: edge to %d of level %d", slot, l, nb, levelOf(nst))
				case !s.visit(nb):
					return corrupt("slot %d layer %d: duplicate edge to %d", slot, l, nb)
				}
			}
		}
	}
	return nil
}
