package chroma

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sextantdb/sextant"
)

// uriKey is the metadata key Chroma stores a record's uri under; keys with
// the "chroma:" prefix are reserved and never returned as metadata (§5.1).
const (
	uriKey         = "chroma:uri"
	reservedPrefix = "chroma:"
)

type writeKind int

const (
	kindAdd writeKind = iota
	kindUpdate
	kindUpsert
)

// writeBatch is a decoded, validated add/update/upsert body, by column.
type writeBatch struct {
	ids   []string
	vecs  [][]float32 // nil, or nil entries: no embedding given
	docs  []*string
	metas []map[string]any // converted; nil values in maps mean "delete the key" on update
}

func (b *writeBatch) vec(i int) []float32 {
	if b.vecs == nil {
		return nil
	}
	return b.vecs[i]
}

func (b *writeBatch) doc(i int) *string {
	if b.docs == nil {
		return nil
	}
	return b.docs[i]
}

func (b *writeBatch) meta(i int) map[string]any {
	if b.metas == nil {
		return nil
	}
	return b.metas[i]
}

// record is the i-th record as a new record: null metadata values dropped.
func (b *writeBatch) record(i int) sextant.Record {
	var md map[string]any
	for k, v := range b.meta(i) {
		if v != nil {
			if md == nil {
				md = map[string]any{}
			}
			md[k] = v
		}
	}
	return sextant.Record{ID: b.ids[i], Embedding: b.vec(i), Metadata: md, Document: b.doc(i)}
}

// updateRecord is the i-th record as an update of an existing one.
func (b *writeBatch) updateRecord(i int) sextant.UpdateRecord {
	return sextant.UpdateRecord{ID: b.ids[i], Embedding: b.vec(i), Metadata: b.meta(i), Document: b.doc(i)}
}

// quoteID quotes an id for a message, cut to its first 64 bytes (on a rune
// boundary) when it is longer.
func quoteID(id string) string {
	const limit = 64
	if len(id) <= limit {
		return strconv.Quote(id)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(id[cut]) {
		cut--
	}
	return strconv.Quote(id[:cut]) + "..."
}

// readWrite decodes and checks an add/update/upsert request (§5.1).
func (h *Handler) readWrite(w http.ResponseWriter, r *http.Request, kind writeKind) (*sextant.Collection, *writeBatch, error) {
	c, err := h.collectionByID(r)
	if err != nil {
		return nil, nil, err
	}
	// A client on another model hears that first (its vectors may also have
	// another dimension, which would be a less useful 400).
	if err := c.CheckModel(r.Context()); err != nil {
		return nil, nil, err
	}
	var req writeReq
	if err := h.decodeBody(w, r, &req); err != nil {
		return nil, nil, err
	}
	if req.IDs == nil {
		return nil, nil, unprocessable("missing field `ids`")
	}
	emb := req.Embeddings
	if kind != kindUpdate {
		if !emb.set || emb.null {
			return nil, nil, unprocessable("missing field `embeddings`")
		}
		if emb.hasNil {
			return nil, nil, unprocessable("embeddings: null entries are only allowed in update")
		}
	}
	n := len(req.IDs)
	if n > h.opts.MaxBatchSize {
		return nil, nil, invalidArg("Cannot submit more than %d records at once, got %d. Please submit your records in batches of size %d or less.",
			h.opts.MaxBatchSize, n, h.opts.MaxBatchSize)
	}
	lens := []struct {
		name string
		n    int
		set  bool
	}{
		{"embeddings", len(emb.vecs), emb.set && !emb.null},
		{"documents", len(req.Documents), req.Documents != nil},
		{"metadatas", len(req.Metadatas), req.Metadatas != nil},
		{"uris", len(req.URIs), req.URIs != nil},
	}
	for _, l := range lens {
		if l.set && l.n != n {
			return nil, nil, invalidArg("Unequal lengths for fields: ids: %d, %s: %d", n, l.name, l.n)
		}
	}
	if i, j, found := emb.nullValue(); found {
		return nil, nil, invalidArg("embeddings[%d][%d] (id %s) is null: embedding values must be numbers", i, j, quoteID(req.IDs[i]))
	}
	if err := checkEmbeddings(emb.vecs, c.Config().Dimension); err != nil {
		return nil, nil, err
	}
	b := &writeBatch{ids: req.IDs, vecs: emb.vecs, docs: req.Documents, metas: req.Metadatas}
	for i, md := range b.metas {
		if _, err := metadataArg(md, fmt.Sprintf("metadatas[%d]", i)); err != nil {
			return nil, nil, err
		}
	}
	for i, u := range req.URIs {
		if u == nil {
			continue
		}
		if b.metas == nil {
			b.metas = make([]map[string]any, n)
		}
		if b.metas[i] == nil {
			b.metas[i] = map[string]any{}
		}
		b.metas[i][uriKey] = *u
	}
	return c, b, nil
}

// add: POST .../add → 201 {}. Ids that exist already are skipped, as
// Chroma does (§5.2); the batch is still validated whole and applied
// atomically (sextant's AddSkipExisting).
func (h *Handler) add(w http.ResponseWriter, r *http.Request) error {
	c, b, err := h.readWrite(w, r, kindAdd)
	if err != nil {
		return err
	}
	recs := make([]sextant.Record, len(b.ids))
	for i := range b.ids {
		recs[i] = b.record(i)
	}
	if _, err := c.AddSkipExisting(r.Context(), recs); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, empty{})
	return nil
}

// update: POST .../update → {}. Missing ids are ignored (§5.3); one atomic
// batch (sextant's UpdateIgnoreMissing).
func (h *Handler) update(w http.ResponseWriter, r *http.Request) error {
	c, b, err := h.readWrite(w, r, kindUpdate)
	if err != nil {
		return err
	}
	ups := make([]sextant.UpdateRecord, len(b.ids))
	for i := range b.ids {
		ups[i] = b.updateRecord(i)
	}
	if _, err := c.UpdateIgnoreMissing(r.Context(), ups); err != nil {
		return err
	}
	return ok(w, empty{})
}

// upsert: POST .../upsert → {}. New ids are added; existing ones are
// updated, their metadata merged, as Chroma does (§5.4); one atomic batch
// (sextant's UpsertMerge).
func (h *Handler) upsert(w http.ResponseWriter, r *http.Request) error {
	c, b, err := h.readWrite(w, r, kindUpsert)
	if err != nil {
		return err
	}
	ups := make([]sextant.UpdateRecord, len(b.ids))
	for i := range b.ids {
		ups[i] = b.updateRecord(i)
	}
	if err := c.UpsertMerge(r.Context(), ups); err != nil {
		return err
	}
	return ok(w, empty{})
}

// deleteRecords: POST .../delete → {"deleted": n} (§5.5).
func (h *Handler) deleteRecords(w http.ResponseWriter, r *http.Request) error {
	c, err := h.collectionByID(r)
	if err != nil {
		return err
	}
	var req deleteReq
	if err := h.decodeBody(w, r, &req); err != nil {
		return err
	}
	where, whereDoc, err := filterArgs(req.Where, req.WhereDocument)
	if err != nil {
		return err
	}
	// An empty filter ({}) is no filter, as in get and query. Chroma's
	// delete with neither ids nor a filter deletes nothing; one that names
	// only empty filters is refused, since its caller may well have meant
	// "every record".
	hasWhere := len(where) > 0 || len(whereDoc) > 0
	var empties []string
	if where != nil && len(where) == 0 {
		empties = append(empties, "where")
	}
	if whereDoc != nil && len(whereDoc) == 0 {
		empties = append(empties, "where_document")
	}
	switch {
	case req.Limit != nil && !hasWhere:
		return invalidArg("limit can only be specified when a where clause is provided (a non-empty where or where_document)")
	case req.IDs != nil && len(req.IDs) == 0 && !hasWhere:
		return invalidArg("Either ids or where must be specified")
	case req.IDs == nil && !hasWhere && len(empties) > 0:
		verb := "is"
		if len(empties) > 1 {
			verb = "are"
		}
		return invalidArg("delete needs ids or a non-empty filter: %s %s {}, and an empty filter is no filter (it never means every record)",
			strings.Join(empties, " and "), verb)
	case req.IDs == nil && !hasWhere:
		return ok(w, deletedJSON{0})
	}
	ctx := r.Context()
	if !hasWhere {
		// Chroma counts the delete operations it logs: one per id given,
		// whether or not the record exists.
		if _, err := c.Delete(ctx, req.IDs); err != nil {
			return err
		}
		return ok(w, deletedJSON{len(req.IDs)})
	}
	ids := req.IDs
	if req.Limit != nil {
		if *req.Limit == 0 {
			if err := checkRead(ctx, c, ids, where, whereDoc); err != nil {
				return err
			}
			return ok(w, deletedJSON{0})
		}
		res, err := c.Get(ctx, sextant.GetOptions{IDs: ids, Where: where, WhereDocument: whereDoc,
			Limit: int(*req.Limit), Include: sextant.IncludeNone})
		if err != nil {
			return err
		}
		if len(res.IDs) == 0 {
			return ok(w, deletedJSON{0})
		}
		ids = res.IDs
	}
	n, err := c.DeleteWhere(ctx, sextant.DeleteOptions{IDs: ids, Where: where, WhereDocument: whereDoc})
	if err != nil {
		return err
	}
	return ok(w, deletedJSON{n})
}

type deletedJSON struct {
	Deleted int `json:"deleted"`
}

// checkRead has the root API validate ids, where and whereDoc where a
// request needs no read (limit 0, n_results 0), so an invalid filter or id
// is an error whatever the limit.
func checkRead(ctx context.Context, c *sextant.Collection, ids []string, where, whereDoc map[string]any) error {
	if len(ids) == 0 && len(where) == 0 && len(whereDoc) == 0 {
		return nil
	}
	_, err := c.Get(ctx, sextant.GetOptions{IDs: ids, Where: where, WhereDocument: whereDoc, Limit: 1, Include: sextant.IncludeNone})
	return err
}

// rootInclude maps an include list to the root API's Include.
func rootInclude(in includeSet) sextant.Include {
	var inc sextant.Include
	if in.embs {
		inc |= sextant.IncludeEmbeddings
	}
	if in.metas || in.uris {
		inc |= sextant.IncludeMetadatas
	}
	if in.docs {
		inc |= sextant.IncludeDocuments
	}
	if in.dist {
		inc |= sextant.IncludeDistances
	}
	if inc == 0 {
		inc = sextant.IncludeNone
	}
	return inc
}

// metadataOut is a record's metadata as Chroma returns it: reserved
// "chroma:" keys removed, null when nothing is left.
func metadataOut(md sextant.Metadata) map[string]any {
	var out map[string]any
	for k, v := range md {
		if strings.HasPrefix(k, reservedPrefix) {
			continue
		}
		if out == nil {
			out = make(map[string]any, len(md))
		}
		out[k] = v
	}
	return out
}

func uriOut(md sextant.Metadata) *string {
	if s, isStr := md[uriKey].(string); isStr {
		return &s
	}
	return nil
}

// get: POST .../get (§5.6).
func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	c, err := h.collectionByID(r)
	if err != nil {
		return err
	}
	var req getReq
	if err := h.decodeBody(w, r, &req); err != nil {
		return err
	}
	in, err := parseInclude(req.Include, false)
	if err != nil {
		return err
	}
	where, whereDoc, err := filterArgs(req.Where, req.WhereDocument)
	if err != nil {
		return err
	}
	opts := sextant.GetOptions{IDs: req.IDs, Where: where, WhereDocument: whereDoc, Include: rootInclude(in)}
	if req.Offset != nil {
		opts.Offset = int(*req.Offset)
	}
	res := &sextant.GetResult{}
	if req.Limit == nil || *req.Limit > 0 {
		if req.Limit != nil {
			opts.Limit = int(*req.Limit)
		}
		if res, err = c.Get(r.Context(), opts); err != nil {
			return err
		}
	} else if err := checkRead(r.Context(), c, req.IDs, where, whereDoc); err != nil {
		return err
	}
	n := len(res.IDs)
	out := getResponse{IDs: make([]string, 0, n), Include: in.list}
	out.IDs = append(out.IDs, res.IDs...)
	if in.embs {
		out.Embeddings = make([][]float32, n)
		copy(out.Embeddings, res.Embeddings)
	}
	if in.docs {
		out.Documents = make([]*string, n)
		copy(out.Documents, res.Documents)
	}
	if in.metas {
		out.Metadatas = make([]map[string]any, n)
		for i, md := range res.Metadatas {
			out.Metadatas[i] = metadataOut(md)
		}
	}
	if in.uris {
		out.URIs = make([]*string, n)
		for i, md := range res.Metadatas {
			out.URIs[i] = uriOut(md)
		}
	}
	return ok(w, out)
}

// query: POST .../query (§5.7).
func (h *Handler) query(w http.ResponseWriter, r *http.Request) error {
	c, err := h.collectionByID(r)
	if err != nil {
		return err
	}
	if err := c.CheckModel(r.Context()); err != nil {
		return err
	}
	var req queryReq
	if err := h.decodeBody(w, r, &req); err != nil {
		return err
	}
	qe := req.QueryEmbeddings
	if !qe.set || qe.null {
		return unprocessable("missing field `query_embeddings`")
	}
	if qe.hasNil {
		return unprocessable("query_embeddings: entries must not be null")
	}
	if i, j, found := qe.nullValue(); found {
		return invalidArg("query_embeddings[%d][%d] is null: embedding values must be numbers", i, j)
	}
	if err := checkEmbeddings(qe.vecs, c.Config().Dimension); err != nil {
		return err
	}
	in, err := parseInclude(req.Include, true)
	if err != nil {
		return err
	}
	where, whereDoc, err := filterArgs(req.Where, req.WhereDocument)
	if err != nil {
		return err
	}
	k := 10
	if req.NResults != nil {
		k = int(*req.NResults)
	}
	// Bound k by the collection's size: n_results is a u32.
	count, err := c.Count(r.Context())
	if err != nil {
		return err
	}
	k = min(k, count)
	nq := len(qe.vecs)
	res := &sextant.QueryResult{}
	if k > 0 && nq > 0 {
		res, err = c.Query(r.Context(), sextant.QueryOptions{Embeddings: qe.vecs, K: k, Where: where,
			WhereDocument: whereDoc, IDs: req.IDs, Include: rootInclude(in)})
		if err != nil {
			return err
		}
	} else {
		if err := checkRead(r.Context(), c, req.IDs, where, whereDoc); err != nil {
			return err
		}
		res.IDs = make([][]string, nq)
	}
	out := queryResponse{IDs: make([][]string, nq), Include: in.list}
	if in.embs {
		out.Embeddings = make([][][]float32, nq)
	}
	if in.docs {
		out.Documents = make([][]*string, nq)
	}
	if in.metas {
		out.Metadatas = make([][]map[string]any, nq)
	}
	if in.uris {
		out.URIs = make([][]*string, nq)
	}
	if in.dist {
		out.Distances = make([][]float32, nq)
	}
	for q := range nq {
		n := len(res.IDs[q])
		out.IDs[q] = append(make([]string, 0, n), res.IDs[q]...)
		if in.embs {
			out.Embeddings[q] = make([][]float32, n)
			if res.Embeddings != nil {
				copy(out.Embeddings[q], res.Embeddings[q])
			}
		}
		if in.docs {
			out.Documents[q] = make([]*string, n)
			if res.Documents != nil {
				copy(out.Documents[q], res.Documents[q])
			}
		}
		if in.dist {
			out.Distances[q] = make([]float32, n)
			if res.Distances != nil {
				copy(out.Distances[q], res.Distances[q])
			}
		}
		if in.metas || in.uris {
			var mds []sextant.Metadata
			if res.Metadatas != nil {
				mds = res.Metadatas[q]
			}
			if in.metas {
				out.Metadatas[q] = make([]map[string]any, n)
				for i, md := range mds {
					out.Metadatas[q][i] = metadataOut(md)
				}
			}
			if in.uris {
				out.URIs[q] = make([]*string, n)
				for i, md := range mds {
					out.URIs[q][i] = uriOut(md)
				}
			}
		}
	}
	return ok(w, out)
}

// countRecords: GET .../{uuid}/count[?read_level=...] → bare integer (§5.8).
func (h *Handler) countRecords(w http.ResponseWriter, r *http.Request) error {
	switch rl := r.URL.Query().Get("read_level"); rl {
	case "", "index_and_wal", "index_only", "index_and_bounded_wal":
	default:
		return invalidArg("Failed to deserialize query string: read_level: unknown variant `%s`, expected one of `index_and_wal`, `index_only`, `index_and_bounded_wal`", rl)
	}
	c, err := h.collectionByID(r)
	if err != nil {
		return err
	}
	n, err := c.Count(r.Context())
	if err != nil {
		return err
	}
	return ok(w, n)
}
