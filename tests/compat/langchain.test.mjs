// LangChain JS (the Chroma vector store of @langchain/community, pinned in
// package.json) against `sextant serve` at $SEXTANT_URL, as chroma.test.mjs
// (which says how to run it by hand): the README's example
// (langchain_example.mjs, which README.md shows verbatim), then LangChain's
// search, filter and delete paths. The embedding is our own and
// deterministic, so every expected neighbour and distance is computed here.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ChromaClient } from "chromadb";
import { Embeddings } from "@langchain/core/embeddings";
import { Chroma } from "@langchain/community/vectorstores/chroma";
import { notesExample } from "./langchain_example.mjs";

if (!process.env.SEXTANT_URL) {
  throw new Error("SEXTANT_URL is not set (e.g. http://127.0.0.1:8000)");
}
const url = new URL(process.env.SEXTANT_URL);
// The server of compat_test.go requires an API key: LangChain's store gets
// a chromadb client that sends it.
const client = new ChromaClient({
  host: url.hostname,
  port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
  ssl: url.protocol === "https:",
  headers: process.env.SEXTANT_TOKEN ? { "x-chroma-token": process.env.SEXTANT_TOKEN } : {},
});

// A unique prefix, so a rerun against the same data directory starts clean.
const run = `lc${Date.now().toString(36)}`;
const name = (s) => `${run}_${s}`;

// HashEmbeddings hashes lower-cased words (FNV-1a) into dim buckets and
// normalizes the counts: texts that share words are near, texts that share
// none are orthogonal (unless two words fall in one bucket).
class HashEmbeddings extends Embeddings {
  constructor(dim = 256) {
    super({});
    this.dim = dim;
  }

  embed(text) {
    const v = new Array(this.dim).fill(0);
    for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
      let h = 0x811c9dc5;
      for (const b of new TextEncoder().encode(word)) {
        h = Math.imul(h ^ b, 0x01000193) >>> 0;
      }
      v[h % this.dim] += 1;
    }
    const norm = Math.hypot(...v);
    if (norm === 0) throw new Error(`no words in ${JSON.stringify(text)}`);
    return v.map((x) => x / norm);
  }

  async embedDocuments(texts) {
    return texts.map((t) => this.embed(t));
  }

  async embedQuery(text) {
    return this.embed(text);
  }
}

const embeddings = new HashEmbeddings();

// cosineDistance of two unit vectors, as Sextant defines it.
const cosineDistance = (a, b) => 1 - a.reduce((s, x, i) => s + x * b[i], 0);

// assertHits checks LangChain's [document, distance] pairs against the
// expected ids, nearest first, and each distance against our own.
function assertHits(hits, query, docs, wantIds) {
  assert.deepEqual(
    hits.map(([d]) => d.id),
    wantIds,
  );
  const q = embeddings.embed(query);
  for (const [doc, distance] of hits) {
    const src = docs[doc.id];
    assert.equal(doc.pageContent, src.pageContent);
    assert.deepEqual(doc.metadata, src.metadata);
    const want = cosineDistance(q, embeddings.embed(src.pageContent));
    assert.ok(Math.abs(distance - want) < 1e-5, `${doc.id}: distance ${distance}, want ${want}`);
  }
}

const notes = {
  "en-db": { pageContent: "Sextant is a vector database written in Go", metadata: { lang: "en" } },
  "en-hnsw": {
    pageContent: "HNSW is a graph for approximate nearest neighbour search",
    metadata: { lang: "en" },
  },
  "fr-db": { pageContent: "Sextant est une base de données vectorielle", metadata: { lang: "fr" } },
};

describe("LangChain JS", () => {
  test("the README shows langchain_example.mjs as it is", () => {
    const src = readFileSync(new URL("./langchain_example.mjs", import.meta.url), "utf8");
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    assert.ok(
      readme.includes("```js\n" + src + "```\n"),
      "README.md must show tests/compat/langchain_example.mjs verbatim in a ```js block",
    );
  });

  test("the README example: addDocuments, similaritySearchWithScore with a filter, delete", async () => {
    const coll = name("notes");
    const { hits } = await notesExample(embeddings, client, coll);
    // "a vector database": en-db shares three words, en-hnsw one ("a").
    assertHits(hits, "a vector database", notes, ["en-db", "en-hnsw"]);
    assert.ok(hits[0][1] < hits[1][1]);

    // The deleted id is gone; the others are stored as LangChain wrote them.
    const c = await client.getCollection({ name: coll, embeddingFunction: null });
    const got = await c.get({ ids: Object.keys(notes) });
    assert.deepEqual([...got.ids].sort(), ["en-db", "fr-db"]);
    for (const [i, id] of got.ids.entries()) {
      assert.equal(got.documents[i], notes[id].pageContent);
      assert.deepEqual(got.metadatas[i], notes[id].metadata);
    }
  });

  test("a filter excludes nearer documents that do not match it", async () => {
    const store = new Chroma(embeddings, {
      index: client,
      collectionName: name("filter"),
      collectionMetadata: { "hnsw:space": "cosine" },
    });
    const ids = Object.keys(notes);
    assert.deepEqual(await store.addDocuments(Object.values(notes), { ids }), ids);
    const query = "Sextant base de données";
    // Unfiltered, the French note is nearest (three shared words) ...
    assertHits(await store.similaritySearchWithScore(query, 3), query, notes, ["fr-db", "en-db", "en-hnsw"]);
    // ... and the filter leaves it out, at any k.
    assertHits(await store.similaritySearchWithScore(query, 3, { lang: "en" }), query, notes, ["en-db", "en-hnsw"]);
    assertHits(await store.similaritySearchWithScore(query, 1, { lang: { $ne: "fr" } }), query, notes, ["en-db"]);
    assertHits(await store.similaritySearchWithScore(query, 3, { lang: { $in: ["fr"] } }), query, notes, ["fr-db"]);
    assert.deepEqual(await store.similaritySearchWithScore(query, 3, { lang: "de" }), []);
  });

  test("delete by ids and by filter; a second store sees the same collection", async () => {
    const coll = name("delete");
    const store = new Chroma(embeddings, { index: client, collectionName: coll });
    await store.addDocuments(Object.values(notes), { ids: Object.keys(notes) });
    await store.delete({ filter: { lang: "fr" } });
    await store.delete({ ids: ["en-hnsw"] });

    const again = await Chroma.fromExistingCollection(embeddings, { index: client, collectionName: coll });
    const hits = await again.similaritySearchWithScore("Sextant base de données", 3);
    assert.deepEqual(
      hits.map(([d]) => d.id),
      ["en-db"],
      "the deleted documents are gone from search",
    );
    const c = await client.getCollection({ name: coll, embeddingFunction: null });
    assert.equal(await c.count(), 1);
  });
});
