"""The notebook's looks at a model: the demo, tokens, layers, masked words; sample files."""
