"""Writes TF Hub SavedModels: a preprocess model from a vocab, an encoder from an architecture and weights."""
