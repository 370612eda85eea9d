"""Batch inference on Apache Beam: ``RunInference`` model handlers and the ``--runner`` pipelines.

Beam is the TensorFlow ecosystem's engine for data-parallel jobs (TFX,
tf.Transform and Beam's own ``RunInference``); the same pipeline runs on the
DirectRunner here and on Dataflow, Flink or Spark. Install it with
``pip install bert_hub[beam]``.

* [`EmbeddingModelHandler`][bert_hub.integrations.beam.EmbeddingModelHandler]: texts -> vectors with an
  [`Embedder`][bert_hub.runtime.embedder.Embedder] (any config, any ``embed`` key).
* [`ExportedModelHandler`][bert_hub.integrations.beam.ExportedModelHandler]: lines -> what any model ``bert-hub train``
  exported predicts (labels and probabilities, scores, tagged words and
  entities, answers), with the columns its task declares.

Each worker process loads the model once (``RunInference`` shares it across
the bundles and threads of the process). ``RunInference`` hands the model
batches of up to `MAX_BATCH` texts; inside each batch the Embedder
sorts texts by length and packs sub-batches to their length buckets, so
bucketing still pays.

[`run_embed`][bert_hub.integrations.beam.run_embed] and [`run_predict`][bert_hub.integrations.beam.run_predict] are the
pipelines behind ``bert-hub
embed --runner ...`` and ``bert-hub predict --runner ...``: input files (a
path or a glob, any filesystem Beam supports) are read line by line with
their file name and line number; results go to Parquet shards under
``OUTPUT/data/`` with that provenance; a line that is not UTF-8, an
unreadable file or a failed inference goes to ``OUTPUT/errors/`` (JSON
lines naming file, line and error) instead of stopping the job; the job's
counts are in ``OUTPUT/summary.json``.

Examples:
    >>> import apache_beam as beam
    >>> from apache_beam.ml.inference.base import RunInference
    >>> from bert_hub.integrations.beam import EmbeddingModelHandler
    >>> with beam.Pipeline() as p:
    ...     vectors = (p | beam.Create(["hello world", "see you at lunch"])
    ...                  | RunInference(EmbeddingModelHandler(config="default", key="mean"))
    ...                  | beam.Map(lambda r: r.inference.shape)
    ...                  | beam.Map(print))
    (384,)
    (384,)
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import shutil
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from typing_extensions import override

from bert_hub.core.errors import InputError, Interrupted
from bert_hub.core.locks import lock_path, output_lock
from bert_hub.core.manifests import FolderKind
from bert_hub.core.outputs import check_output_dir, staging_directory, swap_in
from bert_hub.finetune.exported import model_task
from bert_hub.finetune.tasks import get_task, load_model
from bert_hub.runtime.embedder import Embedder, EmbedOptions


def require_beam() -> Any:
    """``apache_beam``, or one line naming the extra to install."""
    try:
        import apache_beam
    except ImportError:
        raise InputError(
            "`runner` needs Apache Beam: install it with `pip install bert_hub[beam]` (or `pip install apache-beam`)"
        ) from None
    return apache_beam


beam = require_beam()  # before the imports below: one line naming the extra, not an ImportError
import pyarrow as pa  # noqa: E402 - installed with the beam extra
import pyarrow.parquet as pq  # noqa: E402
from apache_beam.io import fileio  # noqa: E402
from apache_beam.io.filesystems import FileSystems  # noqa: E402
from apache_beam.metrics import Metrics  # noqa: E402
from apache_beam.metrics.metric import MetricsFilter  # noqa: E402
from apache_beam.ml.inference.base import (  # noqa: E402
    KeyedModelHandler,
    ModelHandler,
    PredictionResult,
    RunInference,
)
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

log = logging.getLogger(__name__)

BEAM_OUTPUT = FolderKind("beam", frozenset({"data", "errors", "summary.json"}))
"""What a Beam job's output folder holds: Parquet shards, the lines that failed, the job's summary."""
MAX_BATCH = 1024
"""The largest batch ``RunInference`` hands a model (texts); see the README's measurement."""
MIN_BATCH = 64
"""The smallest: below it bucketing has too few texts to group."""


class EmbeddingModelHandler(ModelHandler):
    """``RunInference`` handler: ``str`` texts -> ``PredictionResult(text, vector)``.

    Args:
        config: a config name, file or bundle folder (reachable from every
            worker: a Kaggle / TF Hub handle, a shared path, ``default``).
        options: how to embed ([`EmbedOptions`][bert_hub.runtime.embedder.EmbedOptions], as
            ``bert-hub embed``'s flags: per-token keys give a ``[tokens, H]``
            array per text; by default each worker uses the precision
            calibrated for its own CPU); keyword arguments change single fields.
    """

    def __init__(self, config: str = "default", options: EmbedOptions | None = None, **fields: Any):
        super().__init__()
        self.config = str(config)
        self.options = (options or EmbedOptions()).replace(**fields)

    @property
    def key(self) -> str:
        """The embedding key the handler's vectors are."""
        return self.options.key

    @override
    def load_model(self) -> Any:
        return Embedder.from_config(self.config, self.options)

    @override
    def run_inference(self, batch: Sequence[str], model: Any, inference_args: dict | None = None) -> Iterable[Any]:
        vectors = model.embed(list(batch))
        return [PredictionResult(text, vectors[i]) for i, text in enumerate(batch)]

    @override
    def batch_elements_kwargs(self) -> dict[str, int]:
        return {"min_batch_size": MIN_BATCH, "max_batch_size": MAX_BATCH}

    @override
    def get_num_bytes(self, batch: Sequence[str]) -> int:
        return sum(len(t.encode("utf-8")) for t in batch)


class ExportedModelHandler(ModelHandler):
    """``RunInference`` handler for any model ``bert-hub train`` exported: ``str`` lines ->
    ``PredictionResult(line, {column: value})``.

    The model's own task says what a line is and which columns come out
    (`beam_columns`): a
    classifier's ``label`` and ``probability``, a regressor's ``score``, a
    tagger's ``words``, ``tags`` and ``entities``; for a question answerer
    each line is a JSON object ``{"question": ..., "context": ...}`` and out
    come the answer, its character offsets, score and ``has_answer``.

    Args:
        model: the run folder of ``bert-hub train`` (or its ``model/``),
            reachable from every worker.
        precision: ``float32`` (the export as it is) or ``int8`` (rebuilt with the encoder's matmuls in
            int8; see [`ExportedModel`][bert_hub.finetune.exported.ExportedModel]).
    """

    def __init__(self, model: str, precision: str = "float32"):
        super().__init__()
        self.model = str(model)
        self.precision = precision
        # The exported model's class (its task's): what a line is and which columns come out.
        self.model_type = get_task(model_task(self.model)).model_type()
        # Refuses a line the model cannot read (a question answerer's must be a JSON object): the pipeline
        # sends such lines to the errors one by one, before the model sees a batch.
        self.check_line = self.model_type.check_line

    @override
    def load_model(self) -> Any:
        return load_model(self.model, precision=self.precision)

    @override
    def run_inference(self, batch: Sequence[str], model: Any, inference_args: dict | None = None) -> Iterable[Any]:
        return [PredictionResult(line, row) for line, row in zip(batch, model.beam_rows(list(batch)))]

    @override
    def batch_elements_kwargs(self) -> dict[str, int]:
        return {"min_batch_size": MIN_BATCH, "max_batch_size": MAX_BATCH}


# -- the pipelines behind --runner -------------------------------------------------


def _read_lines(readable: Any) -> Iterator[Any]:
    """(file, line number, text) for each line of a matched file; a bad line or file goes to ``errors``."""
    name = readable.metadata.path
    try:
        with readable.open() as f:
            for number, raw in enumerate(f, start=1):
                if number == 1:
                    raw = raw.removeprefix(codecs.BOM_UTF8)
                try:
                    text = raw.decode("utf-8").rstrip("\n").rstrip("\r")
                except UnicodeDecodeError as e:
                    yield beam.pvalue.TaggedOutput(
                        "errors", {"file": name, "line": number, "error": f"not valid UTF-8 (byte {e.start})"}
                    )
                    continue
                if "\0" in text:
                    yield beam.pvalue.TaggedOutput(
                        "errors", {"file": name, "line": number, "error": "holds a NUL byte (is the file UTF-16?)"}
                    )
                    continue
                yield name, number, text
    except OSError as e:
        yield beam.pvalue.TaggedOutput("errors", {"file": name, "line": None, "error": f"cannot read: {e}"})


_ARROW_TYPES = {
    "string": lambda: pa.string(),
    "float32": lambda: pa.float32(),
    "int64": lambda: pa.int64(),
    "bool": lambda: pa.bool_(),
    "list<string>": lambda: pa.list_(pa.string()),
    "list<span>": lambda: pa.list_(
        pa.struct([("type", pa.string()), ("text", pa.string()), ("start", pa.int64()), ("end", pa.int64())])
    ),
}
"""`beam_columns` types as Parquet's."""


def _schema(kind: str, key: str | None = None, columns: dict[str, str] | None = None) -> Any:
    where = [("file", pa.string()), ("line", pa.int64())]
    if kind == "embed":
        per_token = key == "sequence_output" or (key or "").startswith("encoder_outputs[")
        vector = pa.list_(pa.list_(pa.float32())) if per_token else pa.list_(pa.float32())
        return pa.schema(where + [("vector", vector)])
    return pa.schema(where + [("text", pa.string())] + [(n, _ARROW_TYPES[k]()) for n, k in (columns or {}).items()])


def _count(name: str, item: Any) -> Any:
    """Counts ``item`` in the job's ``bert_hub`` metrics and passes it on."""
    Metrics.counter("bert_hub", name).inc()
    return item


def _build(p: Any, kind: str, handler: Any, input_pattern: str, where: str, schema: Any) -> None:
    """The pipeline: match files -> numbered lines -> RunInference -> Parquet rows and dead letters."""
    lines = (
        p
        | "Match" >> fileio.MatchFiles(input_pattern)
        | "Open" >> fileio.ReadMatches()
        | "Lines" >> beam.FlatMap(_read_lines).with_outputs("errors", main="lines")
    )
    check = getattr(handler, "check_line", None)
    if check is not None:  # lines the model cannot read go to the errors one by one, not by batch
        lines_ok = lines.lines | "Check" >> beam.FlatMap(_checked, check).with_outputs("errors", main="lines")
        good, bad = lines_ok.lines, lines_ok.errors
    else:
        good, bad = lines.lines, None
    keyed = good | "Key" >> beam.Map(lambda r: ((r[0], r[1]), r[2]))
    results, dead = keyed | "RunInference" >> RunInference(KeyedModelHandler(handler)).with_exception_handling()
    rows = results | "Rows" >> beam.Map(_row, kind) | "CountRows" >> beam.Map(lambda r: _count("rows", r))
    failed = dead.failed_inferences | "Failed" >> beam.FlatMap(_failed_rows)
    errors = (
        tuple(e for e in (lines.errors, bad, failed) if e is not None)
        | "AllErrors" >> beam.Flatten()
        | "CountErrors" >> beam.Map(lambda r: _count("errors", r))
    )
    rows | "WriteData" >> beam.io.WriteToParquet(f"{where}/data/part", schema, file_name_suffix=".parquet")
    (
        errors
        | "Json" >> beam.Map(json.dumps)
        | "WriteErrors" >> beam.io.WriteToText(f"{where}/errors/part", file_name_suffix=".jsonl")
    )


def check_pipeline_args(args: Sequence[str], command: str, own_options: Sequence[str] = ()) -> None:
    """Refuses options that neither ``bert-hub COMMAND`` nor any Apache Beam pipeline option knows.

    Beam itself only warns about them and runs with the defaults, so a typo
    such as ``--kye cls`` would embed with another key.
    """
    import argparse
    import difflib

    class OneLine(argparse.ArgumentParser):
        def error(self, message: str) -> Any:  # a Beam option with a bad value: one line, not a usage dump
            raise InputError(f"{message} (an Apache Beam option of `bert-hub {command}`)")

    parser = OneLine(add_help=False, allow_abbrev=False)
    seen: dict[str, Any] = {}
    stack = list(PipelineOptions.__subclasses__())
    while stack:
        cls = stack.pop()
        stack += cls.__subclasses__()
        seen.setdefault(f"{cls.__module__}.{cls.__qualname__}", cls)
    for cls in seen.values():
        try:
            cls._add_argparse_args(parser)  # the hook every Beam options class defines its flags in
        except argparse.ArgumentError:
            pass  # two classes declaring one flag: it is known either way
    _, unknown = parser.parse_known_args(list(args))
    flags = [a for a in unknown if a.startswith("-")]
    if flags or unknown:
        name = (flags or unknown)[0].split("=", 1)[0]
        beams = [o for action in parser._actions for o in action.option_strings]
        close = difflib.get_close_matches(name, list(own_options), n=1) or difflib.get_close_matches(name, beams, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise InputError(
            f"unknown option {name}{hint}: neither `bert-hub {command}` nor Apache Beam knows it; "
            f"see `bert-hub {command} --help`"
        )


def _input_pattern(pattern: str) -> str:
    """The input pattern, absolute when local, checked to match at least one file."""
    local = "://" not in pattern
    absolute = str(Path(pattern).expanduser().absolute()) if local else pattern
    try:
        matched = FileSystems.match([absolute])[0].metadata_list
    except Exception as e:
        raise InputError(f"`input` {pattern}: cannot list it ({str(e).splitlines()[0][:200]})") from None
    if not [m for m in matched if not (local and Path(m.path).is_dir())]:
        if not any(c in pattern for c in "*?["):
            kind = "is a folder, not a file" if local and Path(absolute).is_dir() else "no such file"
            raise InputError(f"`input` {pattern}: {kind}; give a text file (one text per line) or a glob")
        where = f" (looked in {Path.cwd()})" if local and not Path(pattern).expanduser().is_absolute() else ""
        raise InputError(
            f"`input` {pattern} matches no file{where}; give an existing file or a glob "
            "such as 'texts/*.txt' (quoted, so that the shell leaves it to bert-hub)"
        )
    return absolute


def _run(
    kind: str,
    handler: Any,
    input_pattern: str,
    output: str | Path,
    pipeline_args: Sequence[str],
    schema: Any,
    overwrite: bool = False,
    exit_on_interrupt: Any = None,
) -> dict[str, Any]:
    """Runs the pipeline; returns (and writes as ``output/summary.json``) the job's counts.

    ``input_pattern`` must match at least one file (a relative one is taken
    from the current folder). A local ``output`` follows
    `bert_hub.core.outputs` (locked, checked first, written beside and
    swapped in when the job succeeds; Ctrl-C or SIGTERM cancel the job and
    leave it as it was). A remote one (``gs://...``) is written by Beam's
    filesystems directly.

    ``exit_on_interrupt(message, signum)`` (a program's, not a library's
    choice): on Ctrl-C or SIGTERM the staging folder is removed and it is
    called at once, from the signal handler, instead of unwinding a
    ``KeyboardInterrupt`` through the runner's threads (which can crash them).
    """
    pattern = _input_pattern(input_pattern)
    local = "://" not in str(output)
    if not local:
        return _run_in(kind, handler, pattern, input_pattern, str(output), None, pipeline_args, schema)
    out = check_output_dir(output, overwrite=overwrite, what="`output`", kind=BEAM_OUTPUT)
    with output_lock(out, what="`output`"):
        out = check_output_dir(out, overwrite=overwrite, what="`output`", kind=BEAM_OUTPUT)
        work = staging_directory(out, BEAM_OUTPUT)
        swapped: list[bool] = []

        def stop(signum: int) -> None:
            shutil.rmtree(work, ignore_errors=True)
            with contextlib.suppress(OSError):
                lock_path(out).unlink()
            state = f"{out} is as it was" if out.exists() else "nothing was written"
            exit_on_interrupt(f"interrupted; the Beam job was stopped and {state}", signum)

        try:
            summary = _run_in(
                kind,
                handler,
                pattern,
                input_pattern,
                str(out),
                work,
                pipeline_args,
                schema,
                stop if exit_on_interrupt else None,
            )
            swap_in(work, out, BEAM_OUTPUT, "`output`", on_swapped=lambda: swapped.append(True))
        except KeyboardInterrupt:
            if swapped:
                raise Interrupted(f"interrupted after the job was complete; {out} holds its output") from None
            shutil.rmtree(work, ignore_errors=True)
            state = f"{out} is as it was" if out.exists() else "nothing was written"
            raise Interrupted(f"interrupted; the Beam job was stopped and {state}") from None
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
    return summary


@contextlib.contextmanager
def _noticing_interrupts(stop: Any = None) -> Iterator[list[int]]:
    """Records SIGINT / SIGTERM received in the block, then calls ``stop(signum)`` or handles them as
    before: some runners turn the ``KeyboardInterrupt`` of Ctrl-C into an error of their own."""
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def make(previous: Any) -> Any:
        def handler(signum: int, frame: Any) -> None:
            seen.append(signum)
            if stop is not None:
                stop(signum)
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                raise KeyboardInterrupt

        return handler

    installed = []
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            installed.append((sig, signal.signal(sig, make(signal.getsignal(sig)))))
        yield seen
    finally:
        for sig, previous in installed:
            with contextlib.suppress(Exception):
                signal.signal(sig, previous)


def _run_in(
    kind: str,
    handler: Any,
    pattern: str,
    as_given: str,
    out: str,
    work: Path | None,
    pipeline_args: Sequence[str],
    schema: Any,
    stop: Any = None,
) -> dict[str, Any]:
    """Builds and runs the job, writing into ``work`` (or ``out`` when remote); returns its summary.

    The job runs in this (the main) thread: portable runners (Prism, Flink,
    Spark) install signal handlers, which Python allows only there. Ctrl-C
    or SIGTERM stop it as a ``KeyboardInterrupt``, also when the runner
    turned it into an error of its own.
    """
    started = time.perf_counter()
    options = PipelineOptions(list(pipeline_args))
    p = beam.Pipeline(options=options)
    _build(p, kind, handler, pattern, str(work or out), schema)
    with _noticing_interrupts(stop) as seen:
        try:
            result = p.run()
            result.wait_until_finish()
        except Exception as e:
            if seen:
                raise KeyboardInterrupt from e
            raise
    counters = {
        c.key.metric.name: c.committed or c.attempted
        for c in result.metrics().query(MetricsFilter().with_namespace("bert_hub"))["counters"]
    }
    summary = {
        "input": as_given,
        "output": out,
        "runner": options.get_all_options().get("runner"),
        "rows": counters.get("rows", 0),
        "errors": counters.get("errors", 0),
        "seconds": round(time.perf_counter() - started, 2),
    }
    with FileSystems.create(f"{work or out}/summary.json") as f:
        f.write((json.dumps(summary, indent=1) + "\n").encode("utf-8"))
    return summary


def _row(item: Any, kind: str) -> dict[str, Any]:
    (name, line), result = item
    if kind == "embed":
        return {"file": name, "line": line, "vector": result.inference.tolist()}
    return {"file": name, "line": line, "text": result.example, **result.inference}


def _checked(item: Any, check: Any) -> Iterator[Any]:
    """The line as it is when ``check`` accepts it; else a dead letter naming file, line and why."""
    name, number, text = item
    try:
        check(text)
    except InputError as e:
        yield beam.pvalue.TaggedOutput("errors", {"file": name, "line": number, "error": str(e)})
        return
    yield item


def _failed_rows(item: Any) -> Iterator[dict[str, Any]]:
    """One dead-letter record per text of a batch whose inference raised."""
    batch, error = item
    for (name, line), _ in batch:
        yield {"file": name, "line": line, "error": f"inference failed: {type(error).__name__}: {str(error)[:300]}"}


def run_embed(
    input_pattern: str,
    output: str | Path,
    *,
    config: str = "default",
    options: EmbedOptions | None = None,
    pipeline_args: Sequence[str] = ("--runner", "DirectRunner"),
    overwrite: bool = False,
    exit_on_interrupt: Any = None,
    **fields: Any,
) -> dict[str, Any]:
    """``bert-hub embed --runner``: embeds every line of ``input_pattern`` into Parquet shards with
    ``options`` (keyword arguments change single fields; ``exit_on_interrupt``: see `_run`)."""
    handler = EmbeddingModelHandler(config=config, options=options, **fields)
    return _run(
        "embed",
        handler,
        input_pattern,
        output,
        pipeline_args,
        _schema("embed", key=handler.key),
        overwrite=overwrite,
        exit_on_interrupt=exit_on_interrupt,
    )


def run_predict(
    input_pattern: str,
    output: str | Path,
    *,
    model: str,
    pipeline_args: Sequence[str] = ("--runner", "DirectRunner"),
    overwrite: bool = False,
    exit_on_interrupt: Any = None,
    precision: str = "float32",
) -> dict[str, Any]:
    """``bert-hub predict --runner``: every line of ``input_pattern`` through the exported ``model`` (in
    ``precision``), into Parquet shards whose columns the model's task says (see
    [`ExportedModelHandler`][bert_hub.integrations.beam.ExportedModelHandler])."""
    handler = ExportedModelHandler(model, precision)
    return _run(
        "predict",
        handler,
        input_pattern,
        output,
        pipeline_args,
        _schema("predict", columns=handler.model_type.beam_columns),
        overwrite=overwrite,
        exit_on_interrupt=exit_on_interrupt,
    )


def read_output(output: str | Path) -> list[dict[str, Any]]:
    """All rows of a ``--runner`` output folder's Parquet shards, sorted by file and line."""
    rows = [r for part in sorted(Path(output, "data").glob("*.parquet")) for r in pq.read_table(part).to_pylist()]
    return sorted(rows, key=lambda r: (r["file"], r["line"]))


def read_errors(output: str | Path) -> list[dict[str, Any]]:
    """The dead-letter records of a ``--runner`` output folder."""
    return [
        json.loads(line)
        for part in sorted(Path(output, "errors").glob("*.jsonl"))
        for line in part.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
