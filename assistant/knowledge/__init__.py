"""The knowledge base: chunking, ingestion manifest, vector store and retrieval."""
