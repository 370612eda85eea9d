"""Finding and loading a model: handles to folders, the embedded default, the catalog, the Keras pipeline."""
