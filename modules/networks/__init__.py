"""Extra networks: LoRA/LyCORIS, textual-inversion embeddings, VAE choice, hypernetworks.

Each kind has a catalog of files on disk (scanned lazily, never on the start-up path), a reader
that turns a file into tensors, and a way to act on the loaded model for one job only (scoped
weight patches, forward wrappers or an embedding lookup), so the checkpoint itself never changes.
"""
