// Package sextant is an embeddable vector database: collections of records
// (id, vector, metadata, document) searched by nearest neighbour, with
// durable storage, exact and HNSW search, and Chroma's data model (tenants →
// databases → collections) and distance definitions.
//
// Open a database in a directory, get a collection and write to it:
//
//	db, err := sextant.Open("./sextant-data", nil)
//	...
//	coll, err := db.Default().GetOrCreateCollection("docs", &sextant.CollectionConfig{Metric: sextant.Cosine})
//	err = coll.Add(ctx, []sextant.Record{{ID: "a", Embedding: v, Document: sextant.Str("hello")}})
//	res, err := coll.Query(ctx, sextant.QueryOptions{Embeddings: [][]float32{q}, K: 10})
//
// # Guarantees
//
// Every write batch is atomic: all of it is applied, or none of it and a
// typed error says which record was refused and why (wrong dimension, NaN or
// Inf, zero vector under cosine, duplicate or missing id). A write returns
// only once its WAL record is durable. Cosine vectors are normalized on write
// and on query; Get returns them as given.
//
// # Concurrency
//
// DB, Database and Collection are safe for concurrent use by many
// goroutines. Results returned to the caller are the caller's to keep.
package sextant
