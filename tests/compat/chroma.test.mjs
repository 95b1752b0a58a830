// Compatibility suite: the real chromadb JS client (pinned in package.json)
// against a running `sextant serve` at $SEXTANT_URL. Run by
// tests/compat/compat_test.go (make test); by hand:
//
//   sextant serve --data /tmp/sx & SEXTANT_URL=http://127.0.0.1:8000 node --test tests/compat/
//
// With --api-keys, set SEXTANT_TOKEN to a key; the client sends it in
// x-chroma-token.
//
// Every error case checks the error class the client raises (what Chroma's
// server would cause) and that the data is unchanged afterwards.

import { describe, test, before } from "node:test";
import assert from "node:assert/strict";
import {
  AdminClient,
  ChromaClient,
  ChromaClientError,
  ChromaNotFoundError,
  ChromaUnauthorizedError,
  ChromaUniqueError,
  ChromaValueError,
} from "chromadb";

if (!process.env.SEXTANT_URL) {
  throw new Error("SEXTANT_URL is not set (e.g. http://127.0.0.1:8000)");
}
const url = new URL(process.env.SEXTANT_URL);
// SEXTANT_TOKEN: the API key, when the server requires one.
const auth = process.env.SEXTANT_TOKEN ? { "x-chroma-token": process.env.SEXTANT_TOKEN } : {};
const conn = {
  host: url.hostname,
  port: Number(url.port || (url.protocol === "https:" ? 443 : 80)),
  ssl: url.protocol === "https:",
  headers: auth,
};
const client = new ChromaClient(conn);
const base = url.origin + "/api/v2/tenants/default_tenant/databases/default_database/collections";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// A unique prefix, so a rerun against the same data directory starts clean.
const run = `c${Date.now().toString(36)}`;
const name = (s) => `${run}_${s}`;

// No embedding function: every vector is given explicitly.
const noEF = { embeddingFunction: null };

// raw sends one request without the client, to check wire details.
async function raw(method, path, body) {
  const res = await fetch(path.startsWith("http") ? path : url.origin + path, {
    method,
    headers: body === undefined ? { ...auth } : { ...auth, "Content-Type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

// rejects asserts that fn fails with an error of class cls, whose message
// matches msg if given.
async function rejects(fn, cls, msg) {
  let err;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected ${cls.name}, but the call succeeded`);
  assert.ok(
    err instanceof cls,
    `expected ${cls.name}, got ${err?.name}: ${err?.message}`,
  );
  if (msg) assert.match(err.message, msg);
  return err;
}

// snapshot is everything a collection holds, for before/after comparisons.
async function snapshot(coll) {
  const count = await coll.count();
  const all = await coll.get({ include: ["documents", "metadatas", "embeddings"] });
  const rows = all.ids.map((id, i) => ({
    id,
    document: all.documents[i],
    metadata: all.metadatas[i],
    embedding: all.embeddings[i],
  }));
  rows.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { count, rows };
}

const sortIds = (ids) => [...ids].sort();

const RECORDS = {
  ids: ["a", "b", "c", "d", "e"],
  embeddings: [
    [1, 0, 0],
    [0, 1, 0],
    [0, 0, 1],
    [1, 1, 0],
    [0.9, 0.1, 0],
  ],
  documents: ["apple pie", "banana bread", "cherry tart", "apple banana smoothie", "green apple"],
  metadatas: [
    { page: 1, source: "x", fruit: "apple" },
    { page: 2, source: "x", fruit: "banana" },
    { page: 3, source: "y", fruit: "cherry" },
    { page: 4, source: "y", fruit: "apple" },
    { page: 5, source: "x", fruit: "apple", ripe: true },
  ],
};

describe("system", () => {
  test("heartbeat", async () => {
    const hb = await client.heartbeat();
    assert.equal(typeof hb, "number");
    assert.ok(hb > 0);
  });

  test("version", async () => {
    const v = await client.version();
    assert.equal(typeof v, "string");
    assert.ok(v.length > 0);
  });

  test("pre-flight-checks", async () => {
    const r = await raw("GET", "/api/v2/pre-flight-checks");
    assert.equal(r.status, 200);
    assert.equal(typeof r.json.max_batch_size, "number");
    assert.ok(r.json.max_batch_size > 0);
    assert.equal(typeof r.json.supports_base64_encoding, "boolean");
    assert.equal(await client.getMaxBatchSize(), r.json.max_batch_size);
  });
});

describe("api keys", { skip: !process.env.SEXTANT_TOKEN && "SEXTANT_TOKEN not set" }, () => {
  const anon = new ChromaClient({ ...conn, headers: {} });
  const wrong = new ChromaClient({ ...conn, headers: { "x-chroma-token": "not-the-key" } });
  const bearer = new ChromaClient({ ...conn, headers: { Authorization: `Bearer ${process.env.SEXTANT_TOKEN}` } });

  test("heartbeat needs no key", async () => {
    assert.ok((await anon.heartbeat()) > 0);
  });

  test("no key or a wrong key: ChromaUnauthorizedError", async () => {
    await rejects(() => anon.version(), ChromaUnauthorizedError);
    await rejects(() => anon.listCollections(), ChromaUnauthorizedError);
    await rejects(() => wrong.createCollection({ name: name("nokey"), ...noEF }), ChromaUnauthorizedError);
    await rejects(() => client.getCollection({ name: name("nokey") }), ChromaNotFoundError);
  });

  test("Authorization: Bearer works too", async () => {
    assert.equal(typeof (await bearer.countCollections()), "number");
  });
});

describe("collections", () => {
  test("createCollection with legacy hnsw:* metadata", async () => {
    const md = { "hnsw:space": "cosine", "hnsw:construction_ef": 200, "hnsw:M": 16, owner: "compat" };
    const c = await client.createCollection({ name: name("cos"), metadata: md, ...noEF });
    assert.equal(c.name, name("cos"));
    assert.match(c.id, UUID);
    assert.equal(c.tenant, "default_tenant");
    assert.equal(c.database, "default_database");
    assert.deepEqual(c.metadata, md);
    assert.equal(c.configuration.hnsw?.space, "cosine");
    assert.equal(c.configuration.hnsw?.ef_construction, 200);
    assert.equal(c.configuration.hnsw?.max_neighbors, 16);

    // cosine distance: 1 - cos
    await c.add({ ids: ["x", "y"], embeddings: [[1, 0], [0, 2]] });
    const q = await c.query({ queryEmbeddings: [[3, 0]], nResults: 2, include: ["distances"] });
    assert.deepEqual(q.ids, [["x", "y"]]);
    assert.ok(Math.abs(q.distances[0][0]) < 1e-5, `cosine distance to itself: ${q.distances[0][0]}`);
    assert.ok(Math.abs(q.distances[0][1] - 1) < 1e-5, `orthogonal cosine distance: ${q.distances[0][1]}`);
  });

  test("createCollection with configuration", async () => {
    const c = await client.createCollection({
      name: name("conf"),
      configuration: { hnsw: { space: "ip", ef_construction: 128, ef_search: 64, max_neighbors: 24 } },
      ...noEF,
    });
    assert.equal(c.configuration.hnsw?.space, "ip");
    assert.equal(c.configuration.hnsw?.ef_construction, 128);
    assert.equal(c.configuration.hnsw?.ef_search, 64);
    assert.equal(c.configuration.hnsw?.max_neighbors, 24);
    const again = await client.getCollection({ name: name("conf") });
    assert.equal(again.id, c.id);
    assert.equal(again.configuration.hnsw?.space, "ip");
    assert.equal(again.configuration.hnsw?.ef_search, 64);
  });

  test("getCollection, getCollectionById, getOrCreateCollection", async () => {
    const c = await client.getCollection({ name: name("cos") });
    assert.equal(c.name, name("cos"));
    assert.equal(c.configuration.hnsw?.space, "cosine");
    const byId = await client.getCollectionById(c.id);
    assert.equal(byId.name, name("cos"));

    const same = await client.getOrCreateCollection({ name: name("cos"), ...noEF });
    assert.equal(same.id, c.id);
    const fresh = await client.getOrCreateCollection({ name: name("goc"), metadata: { k: "v" }, ...noEF });
    assert.notEqual(fresh.id, c.id);
    assert.deepEqual(fresh.metadata, { k: "v" });
    const again = await client.getOrCreateCollection({ name: name("goc"), ...noEF });
    assert.equal(again.id, fresh.id);
  });

  test("listCollections and countCollections", async () => {
    const all = await client.listCollections({ limit: 1000 });
    const mine = all.map((c) => c.name).filter((n) => n.startsWith(run + "_"));
    assert.deepEqual(mine.sort(), [name("conf"), name("cos"), name("goc")].sort());
    const n = await client.countCollections();
    assert.equal(n, all.length);
    const page = await client.listCollections({ limit: 1, offset: 0 });
    assert.equal(page.length, 1);
  });

  test("collection.modify: rename, metadata, configuration", async () => {
    const c = await client.getCollection({ name: name("goc") });
    await c.modify({ name: name("renamed"), metadata: { k: "w", n: 2 } });
    assert.equal(c.name, name("renamed"));
    const got = await client.getCollection({ name: name("renamed") });
    assert.equal(got.id, c.id);
    assert.deepEqual(got.metadata, { k: "w", n: 2 });
    await rejects(() => client.getCollection({ name: name("goc") }), ChromaNotFoundError);

    await c.modify({ configuration: { hnsw: { ef_search: 150 } } });
    const after = await client.getCollection({ name: name("renamed") });
    assert.equal(after.configuration.hnsw?.ef_search, 150);
  });

  test("deleteCollection", async () => {
    const before = await client.countCollections();
    await client.deleteCollection({ name: name("renamed") });
    assert.equal(await client.countCollections(), before - 1);
    await rejects(() => client.getCollection({ name: name("renamed") }), ChromaNotFoundError);
  });
});

describe("records", () => {
  let coll;
  before(async () => {
    coll = await client.createCollection({ name: name("rec"), ...noEF });
  });

  test("add and count", async () => {
    await coll.add(RECORDS);
    assert.equal(await coll.count(), 5);
    // The first add fixes the dimension.
    const r = await raw("GET", `${base}/${name("rec")}`);
    assert.equal(r.status, 200);
    assert.equal(r.json.dimension, 3);
    // add of an existing id is skipped quietly, as Chroma does.
    await coll.add({ ids: ["a"], embeddings: [[5, 5, 5]], documents: ["other"] });
    const a = await coll.get({ ids: ["a"], include: ["documents", "embeddings"] });
    assert.deepEqual(a.documents, ["apple pie"]);
    assert.deepEqual(a.embeddings, [[1, 0, 0]]);
    assert.equal(await coll.count(), 5);
  });

  test("get by ids, with include", async () => {
    const g = await coll.get({ ids: ["b", "a"], include: ["documents", "metadatas", "embeddings"] });
    assert.deepEqual(sortIds(g.ids), ["a", "b"]);
    const i = g.ids.indexOf("a");
    assert.equal(g.documents[i], "apple pie");
    assert.deepEqual(g.metadatas[i], { page: 1, source: "x", fruit: "apple" });
    assert.deepEqual(g.embeddings[i], [1, 0, 0]);
    assert.deepEqual(g.include.sort(), ["documents", "embeddings", "metadatas"]);

    // Fields not included are null on the wire.
    const r = await raw("POST", `${base}/${coll.id}/get`, { ids: ["a"], include: ["documents"] });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.ids, ["a"]);
    assert.deepEqual(r.json.documents, ["apple pie"]);
    assert.equal(r.json.metadatas, null);
    assert.equal(r.json.embeddings, null);
    assert.deepEqual(r.json.include, ["documents"]);
  });

  test("get with where, whereDocument, limit and offset", async () => {
    const x = await coll.get({ where: { source: "x" } });
    assert.deepEqual(sortIds(x.ids), ["a", "b", "e"]);
    const ge = await coll.get({ where: { page: { $gte: 3 } } });
    assert.deepEqual(sortIds(ge.ids), ["c", "d", "e"]);
    const and = await coll.get({ where: { $and: [{ fruit: "apple" }, { page: { $lt: 5 } }] } });
    assert.deepEqual(sortIds(and.ids), ["a", "d"]);
    const inn = await coll.get({ where: { fruit: { $in: ["banana", "cherry"] } } });
    assert.deepEqual(sortIds(inn.ids), ["b", "c"]);
    const doc = await coll.get({ whereDocument: { $contains: "apple" } });
    assert.deepEqual(sortIds(doc.ids), ["a", "d", "e"]);
    const both = await coll.get({ where: { source: "y" }, whereDocument: { $contains: "apple" } });
    assert.deepEqual(both.ids, ["d"]);

    const all = await coll.get({});
    assert.equal(all.ids.length, 5);
    const p1 = await coll.get({ limit: 2, offset: 0 });
    const p2 = await coll.get({ limit: 2, offset: 2 });
    const p3 = await coll.get({ limit: 2, offset: 4 });
    assert.equal(p1.ids.length, 2);
    assert.equal(p2.ids.length, 2);
    assert.equal(p3.ids.length, 1);
    assert.deepEqual(sortIds([...p1.ids, ...p2.ids, ...p3.ids]), ["a", "b", "c", "d", "e"]);
  });

  test("peek", async () => {
    const p = await coll.peek({ limit: 2 });
    assert.equal(p.ids.length, 2);
    const d = await coll.peek({});
    assert.equal(d.ids.length, 5);
  });

  test("query with queryEmbeddings, nResults, where, whereDocument, include", async () => {
    const q = await coll.query({ queryEmbeddings: [[1, 0, 0], [0, 0, 1]], nResults: 2 });
    assert.equal(q.ids.length, 2);
    assert.deepEqual(q.ids[0], ["a", "e"]);
    assert.equal(q.ids[1][0], "c");
    // l2 is squared L2
    assert.ok(Math.abs(q.distances[0][0]) < 1e-6);
    assert.ok(Math.abs(q.distances[0][1] - 0.02) < 1e-5, `squared l2: ${q.distances[0][1]}`);
    assert.ok(q.distances[0][0] <= q.distances[0][1]);
    assert.equal(q.documents[0][0], "apple pie");
    assert.deepEqual(q.metadatas[0][0], { page: 1, source: "x", fruit: "apple" });

    const w = await coll.query({ queryEmbeddings: [[1, 0, 0]], nResults: 10, where: { source: "y" } });
    assert.deepEqual(w.ids, [["d", "c"]]);
    const wd = await coll.query({
      queryEmbeddings: [[0, 1, 0]],
      nResults: 10,
      whereDocument: { $contains: "banana" },
    });
    assert.deepEqual(wd.ids, [["b", "d"]]);

    const r = await raw("POST", `${base}/${coll.id}/query`, {
      query_embeddings: [[1, 0, 0]],
      n_results: 1,
      include: ["distances"],
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.ids, [["a"]]);
    assert.equal(r.json.documents, null);
    assert.equal(r.json.metadatas, null);
    assert.equal(r.json.embeddings, null);
    assert.equal(r.json.distances.length, 1);

    const e = await coll.query({ queryEmbeddings: [[0, 1, 0]], nResults: 1, include: ["embeddings"] });
    assert.deepEqual(e.embeddings, [[[0, 1, 0]]]);
  });

  test("update", async () => {
    // Without an embedding function the client needs embeddings whenever
    // documents are given (it would embed them otherwise), as with Chroma.
    await coll.update({
      ids: ["a"],
      embeddings: [[1, 0, 0]],
      documents: ["apple crumble"],
      metadatas: [{ page: 10 }],
    });
    const a = await coll.get({ ids: ["a"] });
    assert.deepEqual(a.documents, ["apple crumble"]);
    // metadata is merged per key
    assert.deepEqual(a.metadatas[0], { page: 10, source: "x", fruit: "apple" });
    await coll.update({ ids: ["b"], embeddings: [[0, 2, 0]] });
    const b = await coll.get({ ids: ["b"], include: ["embeddings", "documents"] });
    assert.deepEqual(b.embeddings, [[0, 2, 0]]);
    assert.deepEqual(b.documents, ["banana bread"]);
    // a missing id is ignored
    await coll.update({ ids: ["nope"], metadatas: [{ page: 99 }] });
    assert.equal(await coll.count(), 5);
  });

  test("upsert", async () => {
    await coll.upsert({
      ids: ["c", "f"],
      embeddings: [[0, 0, 2], [2, 2, 2]],
      documents: ["cherry pie", "fig"],
      metadatas: [{ page: 30 }, { page: 6, fruit: "fig" }],
    });
    assert.equal(await coll.count(), 6);
    const g = await coll.get({ ids: ["c", "f"], include: ["documents", "metadatas", "embeddings"] });
    const c = g.ids.indexOf("c");
    const f = g.ids.indexOf("f");
    assert.equal(g.documents[c], "cherry pie");
    assert.deepEqual(g.metadatas[c], { page: 30, source: "y", fruit: "cherry" });
    assert.deepEqual(g.embeddings[c], [0, 0, 2]);
    assert.equal(g.documents[f], "fig");
    assert.deepEqual(g.metadatas[f], { page: 6, fruit: "fig" });
  });

  test("delete by ids and by where", async () => {
    const d1 = await coll.delete({ ids: ["f"] });
    assert.equal(d1.deleted, 1);
    assert.equal(await coll.count(), 5);
    const d2 = await coll.delete({ where: { fruit: "cherry" } });
    assert.equal(d2.deleted, 1);
    assert.equal(await coll.count(), 4);
    const left = await coll.get({});
    assert.deepEqual(sortIds(left.ids), ["a", "b", "d", "e"]);
    const d3 = await coll.delete({ whereDocument: { $contains: "smoothie" } });
    assert.equal(d3.deleted, 1);
    assert.deepEqual(sortIds((await coll.get({})).ids), ["a", "b", "e"]);
  });

  test("indexing status", async () => {
    const s = await coll.getIndexingStatus();
    assert.equal(typeof s.num_indexed_ops, "number");
    assert.equal(typeof s.total_ops, "number");
  });

  test("search answers 501 as Chroma's local server does", async () => {
    const r = await raw("POST", `${base}/${coll.id}/search`, { searches: [] });
    assert.equal(r.status, 501, r.text);
    assert.equal(typeof r.json.message, "string");
  });
});

describe("errors leave the data unchanged", () => {
  let coll;
  let before0;
  before(async () => {
    coll = await client.createCollection({ name: name("err"), metadata: { m: 1 }, ...noEF });
    await coll.add({
      ids: ["p", "q", "r"],
      embeddings: [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
      documents: ["one", "two", "three"],
      metadatas: [{ n: 1 }, { n: 2 }, { n: 3 }],
    });
    before0 = await snapshot(coll);
    assert.equal(before0.count, 3);
  });

  test("duplicate collection: ChromaUniqueError", async () => {
    const n = await client.countCollections();
    await rejects(
      () => client.createCollection({ name: name("err"), metadata: { other: true }, ...noEF }),
      ChromaUniqueError,
    );
    assert.equal(await client.countCollections(), n);
    const c = await client.getCollection({ name: name("err") });
    assert.equal(c.id, coll.id);
    assert.deepEqual(c.metadata, { m: 1 });
    assert.deepEqual(await snapshot(coll), before0);
    const r = await raw("POST", base, { name: name("err") });
    assert.equal(r.status, 409);
    assert.equal(typeof r.json.error, "string");
    assert.match(r.json.message, /already exists/);
  });

  test("missing collection: ChromaNotFoundError", async () => {
    const n = await client.countCollections();
    await rejects(() => client.getCollection({ name: name("missing") }), ChromaNotFoundError);
    await rejects(() => client.deleteCollection({ name: name("missing") }), ChromaNotFoundError);
    const r = await raw("GET", `${base}/${name("missing")}`);
    assert.equal(r.status, 404);
    assert.equal(r.json.error, "NotFoundError");
    assert.equal(await client.countCollections(), n);

    // Records of a deleted collection.
    const gone = await client.createCollection({ name: name("gone"), ...noEF });
    await client.deleteCollection({ name: name("gone") });
    await rejects(() => gone.add({ ids: ["z"], embeddings: [[1, 2, 3]] }), ChromaNotFoundError);
    await rejects(() => gone.count(), ChromaNotFoundError);
    await rejects(() => gone.query({ queryEmbeddings: [[1, 2, 3]] }), ChromaNotFoundError);
    assert.deepEqual(await snapshot(coll), before0);
  });

  test("wrong dimension: ChromaClientError", async () => {
    await rejects(
      () => coll.add({ ids: ["s"], embeddings: [[1, 2]] }),
      ChromaClientError,
      /dimension/i,
    );
    // A batch with one bad record is refused whole.
    await rejects(
      () => coll.add({ ids: ["s", "t"], embeddings: [[1, 2, 3], [1, 2, 3, 4]] }),
      ChromaClientError,
      /dimension/i,
    );
    await rejects(
      () => coll.upsert({ ids: ["p"], embeddings: [[9, 9]] }),
      ChromaClientError,
      /dimension/i,
    );
    await rejects(
      () => coll.update({ ids: ["q"], embeddings: [[9, 9, 9, 9]] }),
      ChromaClientError,
      /dimension/i,
    );
    await rejects(
      () => coll.query({ queryEmbeddings: [[1, 2]] }),
      ChromaClientError,
      /dimension/i,
    );
    assert.deepEqual(await snapshot(coll), before0);
  });

  test("NaN: ChromaClientError", async () => {
    await rejects(() => coll.add({ ids: ["s"], embeddings: [[NaN, 0, 0]] }), ChromaClientError);
    await rejects(
      () => coll.add({ ids: ["s", "t"], embeddings: [[1, 1, 1], [0, NaN, 0]] }),
      ChromaClientError,
    );
    await rejects(() => coll.upsert({ ids: ["p"], embeddings: [[0, 0, NaN]] }), ChromaClientError);
    await rejects(() => coll.update({ ids: ["q"], embeddings: [[NaN, NaN, NaN]] }), ChromaClientError);
    assert.deepEqual(await snapshot(coll), before0);
  });

  test("unknown filter operator", async () => {
    // The client validates operators inside a field; Chroma's client does
    // the same before sending anything.
    await rejects(() => coll.get({ where: { n: { $foo: 1 } } }), ChromaValueError);
    // Clauses the client lets through and the server refuses: 400.
    await rejects(() => coll.get({ where: { $foo: { $eq: 1 } } }), ChromaClientError);
    await rejects(() => coll.query({ queryEmbeddings: [[1, 0, 0]], where: { $foo: { $eq: 1 } } }), ChromaClientError);
    await rejects(() => coll.delete({ where: { $foo: { $eq: 1 } } }), ChromaClientError);
    await rejects(() => coll.get({ whereDocument: { $matches: "one" } }), ChromaClientError);
    await rejects(() => coll.delete({ whereDocument: { $matches: "one" } }), ChromaClientError);
    // On the wire: 400 InvalidArgumentError.
    for (const body of [{ where: { n: { $foo: 1 } } }, { where: { $foo: { $eq: 1 } } }, { where_document: { $foo: "x" } }]) {
      const r = await raw("POST", `${base}/${coll.id}/delete`, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.error, "InvalidArgumentError", r.text);
    }
    assert.deepEqual(await snapshot(coll), before0);
  });

  test("malformed JSON: 400 naming the problem", async () => {
    const r = await raw("POST", `${base}/${coll.id}/add`, '{"ids": ["s"], "embeddings": [[1,2,3]]');
    assert.equal(r.status, 400, r.text);
    assert.equal(typeof r.json.message, "string");
    assert.deepEqual(await snapshot(coll), before0);
  });

  test("batch over max_batch_size is refused by the client", async () => {
    const max = await client.getMaxBatchSize();
    const ids = Array.from({ length: max + 1 }, (_, i) => `big${i}`);
    await rejects(
      () => coll.add({ ids, embeddings: ids.map(() => [1, 1, 1]) }),
      Error,
      /batch size/i,
    );
    // The server enforces it too.
    const r = await raw("POST", `${base}/${coll.id}/add`, {
      ids,
      embeddings: ids.map(() => [1, 1, 1]),
    });
    assert.ok(r.status >= 400 && r.status < 500, `status ${r.status}`);
    assert.deepEqual(await snapshot(coll), before0);
  });
});

describe("bad input is refused with 400 and changes nothing", () => {
  let coll;
  let before0;
  before(async () => {
    coll = await client.createCollection({
      name: name("bad"),
      metadata: { owner: "compat" },
      configuration: { hnsw: { space: "cosine", ef_search: 40 } },
      ...noEF,
    });
    await coll.add({
      ids: ["p", "q", "r"],
      embeddings: [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
      documents: ["one", "two", "three"],
      metadatas: [{ n: 1 }, { n: 2 }, { n: 3 }],
    });
    before0 = await snapshot(coll);
  });

  // collectionState is what a modify could change, read back from the server.
  async function collectionState() {
    const c = await client.getCollection({ name: name("bad") });
    return { id: c.id, metadata: c.metadata, hnsw: c.configuration.hnsw };
  }

  test("null inside an embedding", async () => {
    // Query embeddings travel as JSON lists: the null reaches the server.
    await rejects(
      () => coll.query({ queryEmbeddings: [[1, 0, 0], [0, null, 0]] }),
      ChromaClientError,
      /query_embeddings\[1\]\[1\] is null: embedding values must be numbers/,
    );
    // The client packs add/update/upsert embeddings as float32 base64, which
    // turns a null into 0 before sending; on the wire the server refuses it.
    for (const op of ["add", "upsert", "update"]) {
      const r = await raw("POST", `${base}/${coll.id}/${op}`, { ids: ["p", "s"], embeddings: [[1, 1, 1], [null, 1, 2]] });
      assert.equal(r.status, 400, `${op}: ${r.text}`);
      assert.equal(r.json.error, "InvalidArgumentError", r.text);
      assert.match(r.json.message, /embeddings\[1\]\[0\] \(id "s"\) is null: embedding values must be numbers/);
    }
    assert.deepEqual(await snapshot(coll), before0);
  });

  test('document $contains "" and empty filters', async () => {
    const empty = /"" is an empty pattern, which matches every record with a document/;
    await rejects(() => coll.delete({ whereDocument: { $contains: "" } }), ChromaClientError, empty);
    await rejects(() => coll.delete({ whereDocument: { $not_contains: "" } }), ChromaClientError, empty);
    await rejects(() => coll.delete({ where: { "#document": { $contains: "" } } }), ChromaClientError, empty);
    await rejects(() => coll.get({ whereDocument: { $contains: "" } }), ChromaClientError, empty);
    await rejects(
      () => coll.query({ queryEmbeddings: [[1, 0, 0]], whereDocument: { $contains: "" } }),
      ChromaClientError,
      empty,
    );
    // The client refuses an empty where itself; on the wire, {} is no filter
    // in get and query, and a delete with only empty filters is refused.
    await rejects(() => coll.delete({ where: {} }), ChromaValueError);
    for (const body of [{ where: {} }, { where_document: {} }, { where: {}, where_document: {} }]) {
      const r = await raw("POST", `${base}/${coll.id}/delete`, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.error, "InvalidArgumentError", r.text);
      assert.match(r.json.message, /delete needs ids or a non-empty filter/);
    }
    const g = await raw("POST", `${base}/${coll.id}/get`, { where: {}, where_document: {}, include: [] });
    assert.equal(g.status, 200, g.text);
    assert.deepEqual(sortIds(g.json.ids), ["p", "q", "r"]);
    const q = await raw("POST", `${base}/${coll.id}/query`, { query_embeddings: [[1, 0, 0]], n_results: 3, where: {}, include: [] });
    assert.equal(q.status, 200, q.text);
    assert.equal(q.json.ids[0].length, 3);
    assert.deepEqual(await snapshot(coll), before0);
  });

  test("legacy hnsw:* metadata that would change the index, or of the wrong type", async () => {
    const state = await collectionState();
    await rejects(
      () => coll.modify({ metadata: { "hnsw:space": "l2" } }),
      ChromaClientError,
      /hnsw:space is "l2" but the collection's metric is "cosine".*re-index/,
    );
    await rejects(
      () => coll.modify({ name: name("bad2"), metadata: { "hnsw:M": 32 } }),
      ChromaClientError,
      /hnsw:M is 32 but the collection's M is 16/,
    );
    await rejects(
      () => coll.modify({ metadata: { "hnsw:construction_ef": 300 } }),
      ChromaClientError,
      /hnsw:construction_ef is 300/,
    );
    await rejects(
      () => coll.modify({ metadata: { "hnsw:M": "16" } }),
      ChromaClientError,
      /hnsw:M is a string \("16"\), want an integer/,
    );
    assert.deepEqual(await collectionState(), state);
    await rejects(() => client.getCollection({ name: name("bad2") }), ChromaNotFoundError);
    await rejects(
      () => client.createCollection({ name: name("badmd"), metadata: { "hnsw:M": "16" }, ...noEF }),
      ChromaClientError,
      /hnsw:M is a string \("16"\), want an integer/,
    );
    await rejects(() => client.getCollection({ name: name("badmd") }), ChromaNotFoundError);
    assert.deepEqual(await snapshot(coll), before0);

    // Keys that agree are fine; hnsw:search_ef sets ef_search.
    await coll.modify({ metadata: { owner: "compat", "hnsw:space": "cosine", "hnsw:search_ef": 64 } });
    const after = await collectionState();
    assert.equal(after.hnsw.space, "cosine");
    assert.equal(after.hnsw.ef_search, 64);
    assert.deepEqual(after.metadata, { owner: "compat", "hnsw:space": "cosine", "hnsw:search_ef": 64 });
  });

  test("ids longer than 4096 bytes", async () => {
    const long = "k".repeat(5000);
    const tooLong = /\(batch index 1\): id is 5000 bytes long, over the limit of 4096 bytes/;
    await rejects(() => coll.add({ ids: ["s", long], embeddings: [[1, 1, 0], [0, 1, 1]] }), ChromaClientError, tooLong);
    await rejects(() => coll.upsert({ ids: ["p", long], embeddings: [[1, 1, 0], [0, 1, 1]] }), ChromaClientError, tooLong);
    await rejects(() => coll.update({ ids: ["p", long], metadatas: [{ n: 9 }, { n: 9 }] }), ChromaClientError, tooLong);
    const noRecord = /ids\[1\] is 5000 bytes long, over the limit of 4096 bytes.*no record can have it/;
    await rejects(() => coll.get({ ids: ["p", long] }), ChromaClientError, noRecord);
    await rejects(() => coll.query({ queryEmbeddings: [[1, 0, 0]], ids: ["p", long] }), ChromaClientError, noRecord);
    await rejects(() => coll.delete({ ids: ["p", long] }), ChromaClientError, noRecord);
    assert.deepEqual(await snapshot(coll), before0);
    // 4096 bytes is allowed.
    const longest = "k".repeat(4096);
    await coll.add({ ids: [longest], embeddings: [[1, 1, 1]] });
    assert.deepEqual((await coll.get({ ids: [longest], include: [] })).ids, [longest]);
    await coll.delete({ ids: [longest] });
    assert.deepEqual(await snapshot(coll), before0);
  });

  test("unknown routes and wrong methods answer in Chroma's error shape", async () => {
    for (const [method, path] of [["GET", "/foo"], ["GET", "/sextant/v1/nope"], ["POST", "/api/v2/nope"]]) {
      const r = await raw(method, path);
      assert.equal(r.status, 404, `${method} ${path}: ${r.text}`);
      assert.deepEqual(r.json, { error: "NotFoundError", message: `no route ${method} ${path}` });
    }
    for (const [method, path, allow] of [
      ["POST", "/healthz", "GET, HEAD"],
      ["DELETE", "/api/v2/heartbeat", "GET, HEAD"],
      ["DELETE", "/sextant/v1/health", "GET, HEAD"],
      ["GET", `${new URL(base).pathname}/${coll.id}/add`, "POST"],
    ]) {
      const res = await fetch(url.origin + path, { method, headers: auth });
      const body = await res.json();
      assert.equal(res.status, 405, `${method} ${path}: ${JSON.stringify(body)}`);
      assert.equal(res.headers.get("allow"), allow);
      assert.equal(body.error, "ChromaError");
      assert.equal(body.message, `method ${method} is not allowed on ${path} (allowed: ${allow})`);
    }
    assert.equal((await raw("GET", "/healthz")).text, "ok\n");
    assert.equal((await raw("GET", "/readyz")).text, "ready\n");
  });
});

describe("embedding model pin", () => {
  // A client that declares its model in the header the server checks.
  const declaring = (model) =>
    new ChromaClient({ ...conn, headers: { ...auth, "x-sextant-embedding-model": model } });

  test("the pin from metadata is enforced on writes and queries, and by getOrCreateCollection", async () => {
    const pinned = await client.createCollection({
      name: name("pin"),
      metadata: { embedding_model: "text-embedding-3-small@2025-01" },
      ...noEF,
    });
    const same = await declaring("text-embedding-3-small@2025-01").getCollection({ name: name("pin"), ...noEF });
    await same.add({ ids: ["a", "b"], embeddings: [[1, 0, 0], [0, 1, 0]] });
    const res = await same.query({ queryEmbeddings: [[1, 0, 0]], nResults: 1 });
    assert.deepEqual(res.ids, [["a"]]);

    // The client raises ChromaUniqueError for a 409 (with its own message);
    // the server's message names both models.
    const other = await declaring("text-embedding-3-small@2025-06").getCollection({ name: name("pin"), ...noEF });
    await rejects(() => other.add({ ids: ["c"], embeddings: [[0, 0, 1]] }), ChromaUniqueError);
    const res409 = await fetch(`${base}/${pinned.id}/add`, {
      method: "POST",
      headers: { ...auth, "Content-Type": "application/json", "x-sextant-embedding-model": "text-embedding-3-small@2025-06" },
      body: JSON.stringify({ ids: ["c"], embeddings: [[0, 0, 1]] }),
    });
    assert.equal(res409.status, 409);
    assert.match((await res409.json()).message, /"text-embedding-3-small@2025-06", the collection is pinned to "text-embedding-3-small@2025-01"/);
    await rejects(() => other.upsert({ ids: ["a"], embeddings: [[0, 0, 1]] }), ChromaUniqueError);
    await rejects(() => other.query({ queryEmbeddings: [[1, 0, 0]] }), ChromaUniqueError);
    // Undeclared requests stay accepted.
    await pinned.add({ ids: ["u"], embeddings: [[0, 0, 1]] });
    assert.equal(await pinned.count(), 3);
    const got = await pinned.get({ ids: ["a"], include: ["embeddings"] });
    assert.deepEqual(got.embeddings, [[1, 0, 0]], "the refused upsert changed nothing");

    // getOrCreateCollection naming another model: refused, never the old collection.
    await rejects(
      () =>
        client.getOrCreateCollection({
          name: name("pin"),
          metadata: { embedding_model: "text-embedding-3-large" },
          ...noEF,
        }),
      ChromaUniqueError,
    );
    const again = await client.getOrCreateCollection({ name: name("pin"), ...noEF });
    assert.equal(again.id, pinned.id);

    // Changing the pin through modify is refused; the health shows the pin.
    await rejects(
      () => pinned.modify({ metadata: { embedding_model: "text-embedding-3-large" } }),
      ChromaUniqueError,
    );
    const h = await raw("GET", `/sextant/v1/tenants/default_tenant/databases/default_database/collections/${name("pin")}/health`);
    assert.equal(h.status, 200);
    assert.deepEqual(h.json.config.embedding_model, {
      name: "text-embedding-3-small",
      version: "2025-01",
      dimension: 3,
      pin: "text-embedding-3-small@2025-01",
    });
  });
});

describe("tenants and databases", () => {
  const admin = new AdminClient(conn);
  const tenant = `${run}_tenant`;
  const database = `${run}_db`;

  test("AdminClient: tenant and database lifecycle", async () => {
    await admin.createTenant({ name: tenant });
    assert.equal(await admin.getTenant({ name: tenant }), tenant);
    await rejects(() => admin.createTenant({ name: tenant }), ChromaUniqueError);
    await rejects(() => admin.getTenant({ name: `${run}_nope` }), ChromaNotFoundError);

    await admin.createDatabase({ name: database, tenant });
    const db = await admin.getDatabase({ name: database, tenant });
    assert.equal(db.name, database);
    assert.equal(db.tenant, tenant);
    await rejects(() => admin.createDatabase({ name: database, tenant }), ChromaUniqueError);
    const dbs = await admin.listDatabases({ tenant });
    assert.deepEqual(dbs.map((d) => d.name), [database]);

    const scoped = new ChromaClient({ ...conn, tenant, database });
    const c = await scoped.createCollection({ name: "scoped", ...noEF });
    assert.equal(c.tenant, tenant);
    assert.equal(c.database, database);
    await c.add({ ids: ["1"], embeddings: [[1, 2]] });
    assert.equal(await c.count(), 1);
    assert.equal(await scoped.countCollections(), 1);
    // Not visible from the default database.
    await rejects(() => client.getCollection({ name: "scoped" }), ChromaNotFoundError);

    await admin.deleteDatabase({ name: database, tenant });
    await rejects(() => admin.getDatabase({ name: database, tenant }), ChromaNotFoundError);
  });
});
