"""Batch inference on Apache Beam: ``RunInference`` model handlers and the ``--runner`` pipelines.

Beam is the TensorFlow ecosystem's engine for data-parallel jobs (TFX,
tf.Transform and Beam's own ``RunInference``); the same pipeline runs on the
DirectRunner here and on Dataflow, Flink or Spark. Install it with
``pip install bert_hub[beam]``.

* :class:`EmbeddingModelHandler`: texts -> vectors with an
  :class:`~bert_hub.tasks.embed.Embedder` (any config, any ``embed`` key).
* :class:`ClassifierModelHandler`: texts -> probability and label with an
  exported classifier (``bert-hub train``'s ``model/``, binary or multi-class).
* :class:`RegressorModelHandler`: texts -> score with an exported regressor.

Each worker process loads the model once (``RunInference`` shares it across
the bundles and threads of the process). ``RunInference`` hands the model
batches of up to :data:`MAX_BATCH` texts; inside each batch the Embedder
sorts texts by length and packs sub-batches to their length buckets, so
bucketing still pays.

:func:`run_embed` and :func:`run_predict` are the pipelines behind ``bert-hub
embed --runner ...`` and ``bert-hub predict --runner ...``: input files (a
path or a glob, any filesystem Beam supports) are read line by line with
their file name and line number; results go to Parquet shards under
``OUTPUT/data/`` with that provenance; a line that is not UTF-8, an
unreadable file or a failed inference goes to ``OUTPUT/errors/`` (JSON
lines naming file, line and error) instead of stopping the job; the job's
counts are in ``OUTPUT/summary.json``.

Example:

>>> import apache_beam as beam
>>> from apache_beam.ml.inference.base import RunInference
>>> from bert_hub.beam import EmbeddingModelHandler
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
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from bert_hub.errors import InputError, Interrupted
from bert_hub.outputs import check_output_dir, lock_path, output_lock, staging_directory, swap_in
from bert_hub.tasks.classifier import Classifier
from bert_hub.tasks.embed import Embedder
from bert_hub.tasks.exported import model_task
from bert_hub.tasks.regression import TASK_NAME as REGRESSION, Regressor


def require_beam() -> Any:
    """``apache_beam``, or one line naming the extra to install."""
    try:
        import apache_beam
    except ImportError:
        raise InputError("--runner needs Apache Beam: install it with `pip install bert_hub[beam]` "
                         "(or `pip install apache-beam`)") from None
    return apache_beam


beam = require_beam()  # before the imports below: one line naming the extra, not an ImportError
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
import pyarrow as pa  # noqa: E402 - installed with the beam extra
import pyarrow.parquet as pq  # noqa: E402

log = logging.getLogger(__name__)

#: The largest batch ``RunInference`` hands a model (texts); see the README's measurement.
MAX_BATCH = 1024
#: The smallest: below it bucketing has too few texts to group.
MIN_BATCH = 64


class EmbeddingModelHandler(ModelHandler):
    """``RunInference`` handler: ``str`` texts -> ``PredictionResult(text, vector)``.

    Args:
        config: a config name, file or bundle folder (reachable from every
            worker: a Kaggle / TF Hub handle, a shared path, ``default``).
        key: what to return, as ``bert-hub embed --key`` (per-token keys give
            a ``[tokens, H]`` array per text).
        precision, jit_compile: the execution mode, as ``bert-hub embed --precision / --xla``
            (by default each worker uses the mode calibrated for its own CPU).
        batch_size, seq_length, bucketing, buckets: as :class:`~bert_hub.tasks.embed.Embedder`.
    """

    def __init__(self, config: str = "default", key: str = "pooled_output", precision: str = "auto",
                 batch_size: int = 32, seq_length: int | None = None, bucketing: bool = True,
                 buckets: Sequence[int] | None = None, jit_compile: bool | None = None):
        super().__init__()
        self.config, self.key, self.precision, self.jit_compile = str(config), key, precision, jit_compile
        self.batch_size, self.seq_length, self.bucketing = batch_size, seq_length, bucketing
        self.buckets = list(buckets) if buckets else None

    def load_model(self) -> Any:
        return Embedder.from_config(self.config, key=self.key, precision=self.precision,
                                    jit_compile=self.jit_compile, batch_size=self.batch_size,
                                    seq_length=self.seq_length, bucketing=self.bucketing, buckets=self.buckets)

    def run_inference(self, batch: Sequence[str], model: Any, inference_args: dict | None = None
                      ) -> Iterable[Any]:
        vectors = model.embed(list(batch))
        return [PredictionResult(text, vectors[i]) for i, text in enumerate(batch)]

    def batch_elements_kwargs(self) -> dict[str, int]:
        return {"min_batch_size": MIN_BATCH, "max_batch_size": MAX_BATCH}

    def get_num_bytes(self, batch: Sequence[str]) -> int:
        return sum(len(t.encode("utf-8")) for t in batch)


class ClassifierModelHandler(ModelHandler):
    """``RunInference`` handler: ``str`` texts -> ``PredictionResult(text, {"label", "probability"})``.

    Args:
        model: the run folder of ``bert-hub train`` (or its ``model/``),
            reachable from every worker.
    """

    def __init__(self, model: str):
        super().__init__()
        self.model = str(model)

    def load_model(self) -> Any:
        return Classifier(self.model)

    def run_inference(self, batch: Sequence[str], model: Any, inference_args: dict | None = None
                      ) -> Iterable[Any]:
        rows = model.predict(list(batch))
        return [PredictionResult(text, {"label": r["label"], "probability": r["probability"]})
                for text, r in zip(batch, rows)]

    def batch_elements_kwargs(self) -> dict[str, int]:
        return {"min_batch_size": MIN_BATCH, "max_batch_size": MAX_BATCH}


class RegressorModelHandler(ModelHandler):
    """``RunInference`` handler: ``str`` texts -> ``PredictionResult(text, {"score"})`` with an exported
    regressor (``bert-hub train --task text-regression``'s ``model/``)."""

    def __init__(self, model: str):
        super().__init__()
        self.model = str(model)

    def load_model(self) -> Any:
        return Regressor(self.model)

    def run_inference(self, batch: Sequence[str], model: Any, inference_args: dict | None = None
                      ) -> Iterable[Any]:
        return [PredictionResult(text, {"score": float(s)}) for text, s in zip(batch, model.scores(list(batch)))]

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
                    yield beam.pvalue.TaggedOutput("errors", {"file": name, "line": number,
                                                              "error": f"not valid UTF-8 (byte {e.start})"})
                    continue
                if "\0" in text:
                    yield beam.pvalue.TaggedOutput("errors", {"file": name, "line": number,
                                                              "error": "holds a NUL byte (is the file UTF-16?)"})
                    continue
                yield name, number, text
    except OSError as e:
        yield beam.pvalue.TaggedOutput("errors", {"file": name, "line": None, "error": f"cannot read: {e}"})


def _schema(kind: str, key: str | None = None) -> Any:
    where = [("file", pa.string()), ("line", pa.int64())]
    if kind == "embed":
        per_token = key == "sequence_output" or (key or "").startswith("encoder_outputs[")
        vector = pa.list_(pa.list_(pa.float32())) if per_token else pa.list_(pa.float32())
        return pa.schema(where + [("vector", vector)])
    if kind == "score":
        return pa.schema(where + [("text", pa.string()), ("score", pa.float32())])
    return pa.schema(where + [("text", pa.string()), ("label", pa.string()), ("probability", pa.float32())])


def _count(name: str, item: Any) -> Any:
    """Counts ``item`` in the job's ``bert_hub`` metrics and passes it on."""
    Metrics.counter("bert_hub", name).inc()
    return item


def _build(p: Any, kind: str, handler: Any, input_pattern: str, where: str, key: str | None) -> None:
    """The pipeline: match files -> numbered lines -> RunInference -> Parquet rows and dead letters."""
    lines = (p | "Match" >> fileio.MatchFiles(input_pattern)
               | "Open" >> fileio.ReadMatches()
               | "Lines" >> beam.FlatMap(_read_lines).with_outputs("errors", main="lines"))
    keyed = lines.lines | "Key" >> beam.Map(lambda r: ((r[0], r[1]), r[2]))
    results, dead = keyed | "RunInference" >> RunInference(KeyedModelHandler(handler)).with_exception_handling()
    rows = results | "Rows" >> beam.Map(_row, kind) | "CountRows" >> beam.Map(lambda r: _count("rows", r))
    failed = dead.failed_inferences | "Failed" >> beam.FlatMap(_failed_rows)
    errors = ((lines.errors, failed) | "AllErrors" >> beam.Flatten()
              | "CountErrors" >> beam.Map(lambda r: _count("errors", r)))
    rows | "WriteData" >> beam.io.WriteToParquet(f"{where}/data/part", _schema(kind, key),
                                                  file_name_suffix=".parquet")
    (errors | "Json" >> beam.Map(json.dumps)
            | "WriteErrors" >> beam.io.WriteToText(f"{where}/errors/part", file_name_suffix=".jsonl"))


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
        raise InputError(f"unknown option {name}{hint}: neither `bert-hub {command}` nor Apache Beam knows it; "
                         f"see `bert-hub {command} --help`")


def _input_pattern(pattern: str) -> str:
    """The input pattern, absolute when local, checked to match at least one file."""
    local = "://" not in pattern
    absolute = str(Path(pattern).expanduser().absolute()) if local else pattern
    try:
        matched = FileSystems.match([absolute])[0].metadata_list
    except Exception as e:  # noqa: BLE001 - each filesystem raises its own errors
        raise InputError(f"--input {pattern}: cannot list it ({str(e).splitlines()[0][:200]})") from None
    if not [m for m in matched if not (local and Path(m.path).is_dir())]:
        if not any(c in pattern for c in "*?["):
            kind = "is a folder, not a file" if local and Path(absolute).is_dir() else "no such file"
            raise InputError(f"--input {pattern}: {kind}; give a text file (one text per line) or a glob")
        where = f" (looked in {Path.cwd()})" if local and not Path(pattern).expanduser().is_absolute() else ""
        raise InputError(f"--input {pattern} matches no file{where}; give an existing file or a glob "
                         "such as 'texts/*.txt' (quoted, so that the shell leaves it to bert-hub)")
    return absolute


def _run(kind: str, handler: Any, input_pattern: str, output: str | Path, pipeline_args: Sequence[str],
         key: str | None = None, overwrite: bool = False, exit_on_interrupt: Any = None) -> dict[str, Any]:
    """Runs the pipeline; returns (and writes as ``output/summary.json``) the job's counts.

    ``input_pattern`` must match at least one file (a relative one is taken
    from the current folder). A local ``output`` follows
    :mod:`bert_hub.outputs` (locked, checked first, written beside and
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
        return _run_in(kind, handler, pattern, input_pattern, str(output), None, pipeline_args, key)
    out = check_output_dir(output, kind="beam", overwrite=overwrite, what="--output")
    with output_lock(out, what="--output"):
        out = check_output_dir(out, kind="beam", overwrite=overwrite, what="--output")
        work = staging_directory(out, "beam")
        swapped: list[bool] = []

        def stop(signum: int) -> None:
            shutil.rmtree(work, ignore_errors=True)
            with contextlib.suppress(OSError):
                lock_path(out).unlink()
            state = f"{out} is as it was" if out.exists() else "nothing was written"
            exit_on_interrupt(f"interrupted; the Beam job was stopped and {state}", signum)

        try:
            summary = _run_in(kind, handler, pattern, input_pattern, str(out), work, pipeline_args, key,
                              stop if exit_on_interrupt else None)
            swap_in(work, out, "--output", on_swapped=lambda: swapped.append(True))
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


def _run_in(kind: str, handler: Any, pattern: str, as_given: str, out: str, work: Path | None,
            pipeline_args: Sequence[str], key: str | None, stop: Any = None) -> dict[str, Any]:
    """Builds and runs the job, writing into ``work`` (or ``out`` when remote); returns its summary.

    The job runs in this (the main) thread: portable runners (Prism, Flink,
    Spark) install signal handlers, which Python allows only there. Ctrl-C
    or SIGTERM stop it as a ``KeyboardInterrupt``, also when the runner
    turned it into an error of its own.
    """
    started = time.perf_counter()
    options = PipelineOptions(list(pipeline_args))
    p = beam.Pipeline(options=options)
    _build(p, kind, handler, pattern, str(work or out), key)
    with _noticing_interrupts(stop) as seen:
        try:
            result = p.run()
            result.wait_until_finish()
        except Exception as e:
            if seen:
                raise KeyboardInterrupt from e
            raise
    counters = {c.key.metric.name: c.committed or c.attempted
                for c in result.metrics().query(MetricsFilter().with_namespace("bert_hub"))["counters"]}
    summary = {"input": as_given, "output": out, "runner": options.get_all_options().get("runner"),
               "rows": counters.get("rows", 0), "errors": counters.get("errors", 0),
               "seconds": round(time.perf_counter() - started, 2)}
    with FileSystems.create(f"{work or out}/summary.json") as f:
        f.write((json.dumps(summary, indent=1) + "\n").encode("utf-8"))
    return summary


def _row(item: Any, kind: str) -> dict[str, Any]:
    (name, line), result = item
    if kind == "embed":
        return {"file": name, "line": line, "vector": result.inference.tolist()}
    return {"file": name, "line": line, "text": result.example, **result.inference}


def _failed_rows(item: Any) -> Iterator[dict[str, Any]]:
    """One dead-letter record per text of a batch whose inference raised."""
    batch, error = item
    for (name, line), _ in batch:
        yield {"file": name, "line": line, "error": f"inference failed: {type(error).__name__}: {str(error)[:300]}"}


def run_embed(input_pattern: str, output: str | Path, *, config: str = "default", key: str = "pooled_output",
              precision: str = "auto", jit_compile: bool | None = None, batch_size: int = 32,
              seq_length: int | None = None, bucketing: bool = True, buckets: Sequence[int] | None = None,
              pipeline_args: Sequence[str] = ("--runner", "DirectRunner"), overwrite: bool = False,
              exit_on_interrupt: Any = None) -> dict[str, Any]:
    """``bert-hub embed --runner``: embeds every line of ``input_pattern`` into Parquet shards
    (``exit_on_interrupt``: see :func:`_run`)."""
    handler = EmbeddingModelHandler(config=config, key=key, precision=precision, jit_compile=jit_compile,
                                    batch_size=batch_size, seq_length=seq_length, bucketing=bucketing,
                                    buckets=buckets)
    return _run("embed", handler, input_pattern, output, pipeline_args, key=key, overwrite=overwrite,
                exit_on_interrupt=exit_on_interrupt)


def run_predict(input_pattern: str, output: str | Path, *, model: str,
                pipeline_args: Sequence[str] = ("--runner", "DirectRunner"), overwrite: bool = False,
                exit_on_interrupt: Any = None) -> dict[str, Any]:
    """``bert-hub predict --runner``: scores every line of ``input_pattern`` into Parquet shards.

    A classifier's rows get ``label`` and ``probability``; a regressor's, ``score``.
    """
    kind, handler = (("score", RegressorModelHandler(model)) if model_task(model) == REGRESSION
                     else ("predict", ClassifierModelHandler(model)))
    return _run(kind, handler, input_pattern, output, pipeline_args, overwrite=overwrite,
                exit_on_interrupt=exit_on_interrupt)


def read_output(output: str | Path) -> list[dict[str, Any]]:
    """All rows of a ``--runner`` output folder's Parquet shards, sorted by file and line."""
    rows = [r for part in sorted(Path(output, "data").glob("*.parquet")) for r in pq.read_table(part).to_pylist()]
    return sorted(rows, key=lambda r: (r["file"], r["line"]))


def read_errors(output: str | Path) -> list[dict[str, Any]]:
    """The dead-letter records of a ``--runner`` output folder."""
    return [json.loads(line) for part in sorted(Path(output, "errors").glob("*.jsonl"))
            for line in part.read_text(encoding="utf-8").splitlines() if line.strip()]
