"""Serving artifacts made again from a run or a config: ``bert-hub export``.

* [`bert_hub.export.run`][bert_hub.export.run]: a training run's serving model;
* [`bert_hub.export.embedder`][bert_hub.export.embedder]: an embedder (one key of a model, from raw strings);
* [`bert_hub.export.serving`][bert_hub.export.serving]: what both share (the pipeline a LiteRT graph is
  traced with, writing the artifact);
* [`bert_hub.export.preprocess`][bert_hub.export.preprocess]: tokenizing and packing in ops LiteRT converts;
* [`bert_hub.export.normalizer`][bert_hub.export.normalizer]: Hugging Face's text normalisation as the in-graph
  normaliser's table;
* [`bert_hub.export.litert`][bert_hub.export.litert]: converting, quantizing and loading ``.tflite`` files.
"""
