"""Tasks built on the pipeline: the notebook demo, inspection, embedding, classification."""
