package catalog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Kind is a command's kind: the first byte of its encoding
// (docs/format/catalog.md lists them, the reserved ones included).
type Kind uint8

const (
	KindCreateTenant     Kind = 1
	KindCreateDatabase   Kind = 2
	KindDeleteDatabase   Kind = 3
	KindCreateCollection Kind = 4
	KindDropCollection   Kind = 5
	KindRenameCollection Kind = 6
	KindSetConfig        Kind = 7

	// Kinds 8–15 are reserved for more collection and tenant commands,
	// 16–23 for aliases (issue 14: create, drop, repoint) and 24–31 for the
	// shard map (assign, move, split). Decoding one is an error until it is
	// implemented.
	kindReservedFirst Kind = 8
	kindReservedLast  Kind = 31
)

func (k Kind) String() string {
	switch k {
	case KindCreateTenant:
		return "create-tenant"
	case KindCreateDatabase:
		return "create-database"
	case KindDeleteDatabase:
		return "delete-database"
	case KindCreateCollection:
		return "create-collection"
	case KindDropCollection:
		return "drop-collection"
	case KindRenameCollection:
		return "rename-collection"
	case KindSetConfig:
		return "set-config"
	}
	if k >= kindReservedFirst && k <= kindReservedLast {
		return fmt.Sprintf("reserved(%d)", uint8(k))
	}
	return fmt.Sprintf("unknown(%d)", uint8(k))
}

// Command is a catalog command: one of the pointer types below.
type Command interface {
	Kind() Kind
	appendFields(dst []byte) []byte
	decodeFields(d *decoder)
}

// CreateTenant creates a tenant.
type CreateTenant struct{ Name string }

// CreateDatabase creates a database in an existing tenant, with the id the
// proposer chose.
type CreateDatabase struct{ Tenant, Name, ID string }

// DeleteDatabase deletes a database and every collection in it.
type DeleteDatabase struct{ Tenant, Name string }

// CreateCollection creates a collection; the row carries its id and every
// setting, chosen by the proposer.
type CreateCollection struct{ Collection Collection }

// DropCollection removes a collection from the catalog (its files are the
// driver's to remove, after the command is durable).
type DropCollection struct{ ID string }

// RenameCollection renames a collection within its database.
type RenameCollection struct{ ID, Name string }

// Fields is the set of fields a SetConfig changes.
type Fields uint64

const (
	SetName              Fields = 1 << iota // Name: renames, as RenameCollection does
	SetMetadata                             // Metadata (nil clears it)
	SetEfSearch                             // EfSearch
	SetModel                                // EmbeddingModel and ModelDimension: the pin ("" unpins)
	SetEmbeddingFunction                    // EmbeddingFunction

	setAll = SetName | SetMetadata | SetEfSearch | SetModel | SetEmbeddingFunction
)

// SetConfig changes a collection's settings: the fields in Set, all or none.
// It is the hot-setting command (ef_search, the model pin) and Modify's.
type SetConfig struct {
	ID                string
	Set               Fields
	Name              string
	Metadata          []byte
	EfSearch          int
	EmbeddingModel    string
	ModelDimension    int
	EmbeddingFunction string
}

func (*CreateTenant) Kind() Kind     { return KindCreateTenant }
func (*CreateDatabase) Kind() Kind   { return KindCreateDatabase }
func (*DeleteDatabase) Kind() Kind   { return KindDeleteDatabase }
func (*CreateCollection) Kind() Kind { return KindCreateCollection }
func (*DropCollection) Kind() Kind   { return KindDropCollection }
func (*RenameCollection) Kind() Kind { return KindRenameCollection }
func (*SetConfig) Kind() Kind        { return KindSetConfig }

func (c *CreateTenant) appendFields(b []byte) []byte { return appendStr(b, c.Name) }
func (c *CreateTenant) decodeFields(d *decoder)      { c.Name = d.str() }

func (c *CreateDatabase) appendFields(b []byte) []byte {
	return appendStr(appendStr(appendStr(b, c.Tenant), c.Name), c.ID)
}
func (c *CreateDatabase) decodeFields(d *decoder) { c.Tenant, c.Name, c.ID = d.str(), d.str(), d.str() }

func (c *DeleteDatabase) appendFields(b []byte) []byte {
	return appendStr(appendStr(b, c.Tenant), c.Name)
}
func (c *DeleteDatabase) decodeFields(d *decoder) { c.Tenant, c.Name = d.str(), d.str() }

func (c *CreateCollection) appendFields(b []byte) []byte {
	r := &c.Collection
	for _, s := range []string{r.ID, r.Name, r.Tenant, r.Database} {
		b = appendStr(b, s)
	}
	b = appendInt(b, r.Dimension)
	b = appendStr(b, r.Metric)
	b = appendInt(appendInt(appendInt(b, r.M), r.EfConstruction), r.EfSearch)
	b = appendStr(b, r.EmbeddingModel)
	b = appendInt(b, r.ModelDimension)
	b = appendStr(b, r.EmbeddingFunction)
	b = appendInt(b, r.ExactThreshold)
	b = binary.AppendUvarint(b, uint64(len(r.UnindexedKeys)))
	for _, k := range r.UnindexedKeys {
		b = appendStr(b, k)
	}
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.RecallTarget))
	b = appendBool(b, r.ManualEf)
	return appendBytes(b, r.Metadata)
}

func (c *CreateCollection) decodeFields(d *decoder) {
	r := &c.Collection
	r.ID, r.Name, r.Tenant, r.Database = d.str(), d.str(), d.str(), d.str()
	r.Dimension = d.int()
	r.Metric = d.str()
	r.M, r.EfConstruction, r.EfSearch = d.int(), d.int(), d.int()
	r.EmbeddingModel = d.str()
	r.ModelDimension = d.int()
	r.EmbeddingFunction = d.str()
	r.ExactThreshold = d.int()
	r.UnindexedKeys = d.strs()
	r.RecallTarget = d.f64()
	r.ManualEf = d.bool()
	r.Metadata = d.bytes()
}

func (c *DropCollection) appendFields(b []byte) []byte { return appendStr(b, c.ID) }
func (c *DropCollection) decodeFields(d *decoder)      { c.ID = d.str() }

func (c *RenameCollection) appendFields(b []byte) []byte {
	return appendStr(appendStr(b, c.ID), c.Name)
}
func (c *RenameCollection) decodeFields(d *decoder) { c.ID, c.Name = d.str(), d.str() }

func (c *SetConfig) appendFields(b []byte) []byte {
	b = appendStr(b, c.ID)
	b = binary.AppendUvarint(b, uint64(c.Set))
	if c.Set&SetName != 0 {
		b = appendStr(b, c.Name)
	}
	if c.Set&SetMetadata != 0 {
		b = appendBytes(b, c.Metadata)
	}
	if c.Set&SetEfSearch != 0 {
		b = appendInt(b, c.EfSearch)
	}
	if c.Set&SetModel != 0 {
		b = appendInt(appendStr(b, c.EmbeddingModel), c.ModelDimension)
	}
	if c.Set&SetEmbeddingFunction != 0 {
		b = appendStr(b, c.EmbeddingFunction)
	}
	return b
}

func (c *SetConfig) decodeFields(d *decoder) {
	c.ID = d.str()
	c.Set = Fields(d.uint())
	if c.Set&^setAll != 0 {
		d.fail("set config: unknown fields %#x", uint64(c.Set&^setAll))
		return
	}
	if c.Set&SetName != 0 {
		c.Name = d.str()
	}
	if c.Set&SetMetadata != 0 {
		c.Metadata = d.bytes()
	}
	if c.Set&SetEfSearch != 0 {
		c.EfSearch = d.int()
	}
	if c.Set&SetModel != 0 {
		c.EmbeddingModel, c.ModelDimension = d.str(), d.int()
	}
	if c.Set&SetEmbeddingFunction != 0 {
		c.EmbeddingFunction = d.str()
	}
}

// ErrDecode is wrapped by every command and record decoding error.
var ErrDecode = errors.New("catalog: bad command encoding")

// AppendCommand appends cmd's encoding (kind byte, then fields) to dst.
func AppendCommand(dst []byte, cmd Command) []byte {
	return cmd.appendFields(append(dst, byte(cmd.Kind())))
}

// DecodeCommand decodes one command that fills b exactly. It never panics;
// a bad encoding is an error wrapping ErrDecode.
func DecodeCommand(b []byte) (Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrDecode)
	}
	var cmd Command
	switch k := Kind(b[0]); k {
	case KindCreateTenant:
		cmd = new(CreateTenant)
	case KindCreateDatabase:
		cmd = new(CreateDatabase)
	case KindDeleteDatabase:
		cmd = new(DeleteDatabase)
	case KindCreateCollection:
		cmd = new(CreateCollection)
	case KindDropCollection:
		cmd = new(DropCollection)
	case KindRenameCollection:
		cmd = new(RenameCollection)
	case KindSetConfig:
		cmd = new(SetConfig)
	default:
		return nil, fmt.Errorf("%w: kind %v", ErrDecode, k)
	}
	d := decoder{b: b[1:]}
	cmd.decodeFields(&d)
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %v: %v", ErrDecode, cmd.Kind(), d.err)
	}
	return cmd, nil
}

// recordVersion is the first byte of a log record.
const recordVersion = 1

// AppendRecord appends the log record of cmd at index (version, index,
// command) to dst.
func AppendRecord(dst []byte, index uint64, cmd Command) []byte {
	dst = binary.AppendUvarint(append(dst, recordVersion), index)
	return AppendCommand(dst, cmd)
}

// DecodeRecord decodes a log record written by AppendRecord.
func DecodeRecord(b []byte) (uint64, Command, error) {
	if len(b) == 0 || b[0] != recordVersion {
		return 0, nil, fmt.Errorf("%w: record version", ErrDecode)
	}
	index, n := binary.Uvarint(b[1:])
	if n <= 0 || index == 0 {
		return 0, nil, fmt.Errorf("%w: record index", ErrDecode)
	}
	cmd, err := DecodeCommand(b[1+n:])
	if err != nil {
		return 0, nil, err
	}
	return index, cmd, nil
}

func appendStr(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBytes(b, p []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(p))), p...)
}

func appendInt(b []byte, v int) []byte { return binary.AppendVarint(b, int64(v)) }

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// decoder reads fields; the first error sticks and later reads return zero
// values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, a...)
	}
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	if int64(int(v)) != v {
		d.fail("int %d out of range", v)
		return 0
	}
	d.b = d.b[n:]
	return int(v)
}

func (d *decoder) raw() []byte {
	n := d.uint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length %d past the end (%d bytes left)", n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) str() string { return string(d.raw()) }

// bytes returns a copy (nil when empty), so the result does not alias the
// record buffer.
func (d *decoder) bytes() []byte {
	p := d.raw()
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *decoder) strs() []string {
	n := d.uint()
	if d.err != nil || n == 0 {
		return nil
	}
	if n > uint64(len(d.b)) { // every string takes at least its length byte
		d.fail("%d strings past the end", n)
		return nil
	}
	out := make([]string, 0, n)
	for range n {
		out = append(out, d.str())
	}
	if d.err != nil {
		return nil
	}
	return out
}

func (d *decoder) f64() float64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("short float")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	if math.IsNaN(v) || math.IsInf(v, 0) {
		d.fail("float %v is not finite", v)
		return 0
	}
	d.b = d.b[8:]
	return v
}

func (d *decoder) bool() bool {
	if d.err != nil {
		return false
	}
	if len(d.b) < 1 || d.b[0] > 1 {
		d.fail("bad bool")
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}
