"""``bert-hub``: the command line, a thin layer over the Python API.

One module per command group declares its commands' parsers and runs them;
`bert_hub.cli.program.COMMAND_GROUPS` is the one table that lists them.
Every command takes ``--json`` for machine-readable output and ``--verbose``
to get TensorFlow's own logging back (it is silenced by default).

    bert-hub models                                  (catalog)
    bert-hub demo | inspect | compare-layers | fill-mask | samples   (explore)
    bert-hub embed --input texts.txt --output out.npy               (embed)
    bert-hub train | evaluate | predict              (finetune)
    bert-hub export --model RUN --out model.tflite   (export)
    bert-hub build | convert                         (build)
"""

from bert_hub.cli.program import build_parser, main

__all__ = ["build_parser", "main"]
