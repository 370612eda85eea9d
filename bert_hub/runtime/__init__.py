"""Fast inference: length batching, precision chosen by measurement, the Embedder."""
