import { ChromaClient } from "chromadb";
import { Chroma } from "@langchain/community/vectorstores/chroma";

// notesExample stores three notes in a Sextant collection through LangChain,
// searches the English ones and deletes one. embeddings is any LangChain
// Embeddings (OpenAIEmbeddings, ...): the client computes the vectors,
// Sextant stores and searches them.
export async function notesExample(
  embeddings,
  // With --api-keys: new ChromaClient({ ..., headers: { "x-chroma-token": key } }).
  client = new ChromaClient({ host: "localhost", port: 8000 }),
  collectionName = "notes",
) {
  const store = new Chroma(embeddings, {
    index: client,
    collectionName,
    collectionMetadata: { "hnsw:space": "cosine" },
  });
  await store.addDocuments(
    [
      { pageContent: "Sextant is a vector database written in Go", metadata: { lang: "en" } },
      { pageContent: "HNSW is a graph for approximate nearest neighbour search", metadata: { lang: "en" } },
      { pageContent: "Sextant est une base de données vectorielle", metadata: { lang: "fr" } },
    ],
    { ids: ["en-db", "en-hnsw", "fr-db"] },
  );
  // [document, distance] pairs, nearest first (for cosine, 1 - cosine
  // similarity); the filter is a Chroma where.
  const hits = await store.similaritySearchWithScore("a vector database", 2, { lang: "en" });
  await store.delete({ ids: ["en-hnsw"] });
  return { store, hits };
}
