"""A training run's folder: created aside, locked, checked on resume, swapped in whole at the end.

`RunFolder` is the run of the process that writes it (the only one, or a multi-worker run's
chief); `ScratchRun` is a folder of its own for the other workers, which take part in every save
but whose copies nobody needs."""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import yaml

from bert_hub.core.atomic import atomic_write_text
from bert_hub.core.errors import InputError, Interrupted, plural
from bert_hub.core.interrupts import deferred_interrupts
from bert_hub.core.locks import output_lock
from bert_hub.core.manifests import FolderKind, mark_directory
from bert_hub.core.outputs import check_output_dir, make_directory, staging_directory, swap_in
from bert_hub.finetune.distribution import no_answer
from bert_hub.finetune.lora import RECORD as LORA_RECORD
from bert_hub.finetune.options import Options
from bert_hub.finetune.train_config import TrainConfig, recorded_settings, recorded_train_config

RUN = FolderKind(
    "run",
    frozenset(
        {
            "checkpoints",
            "history.json",
            "curves.png",
            "metrics.json",
            "summary.json",
            "train_config.yaml",
            "model",
            "tensorboard",
        }
    ),
)
"""What a run folder holds: checkpoints, history, curves, metrics, summary, settings, the export and TensorBoard's
event files."""


class RunFolder:
    """Where a training run is written, and what an interruption leaves.

    The run holds ``out``'s lock (`output_lock`) from
    its checks to its end: a second run writing the same folder is refused. A
    new run is written in place (so it can be resumed after a crash), its
    manifest brought up to date after every epoch; a run replacing an old one
    (``overwrite``) is written beside it and exchanged with it when
    complete, so the old run survives any failure or interrupt before that.
    """

    def __init__(self, out: Path, *, resume: bool, overwrite: bool):
        if resume and overwrite:
            raise InputError("give `resume=True` or `overwrite=True`, not both")
        self.out = out
        self.resume = resume
        self.dir = out
        self.fresh = self.existed = self.swapped = False
        self._lock: AbstractContextManager[Path] | None = output_lock(out, what="`out`")
        self._lock.__enter__()
        try:
            self._check(overwrite)
        except BaseException:
            self.release()
            raise
        self.replacing = not resume and out.is_dir() and any(out.iterdir())

    def check_unfinished(self, epochs: int | None) -> None:
        """A resumed run must have epochs left (of ``epochs``, when known) or no export yet."""
        saved = self.saved_epochs(self.out)
        stopped = _stopped_early(self.out)
        if stopped is not None and (self.out / "model").is_dir():
            raise InputError(
                f"{self.out} stopped early after epoch {stopped.get('epoch')} ({stopped.get('reason')}) and is "
                "exported: nothing to resume; `overwrite=True` starts it again"
            )
        if epochs is not None and saved >= epochs and (self.out / "model").is_dir():
            raise InputError(
                f"{self.out} is finished ({plural(saved, 'epoch')} trained, {epochs} asked for, "
                "exported): nothing to resume; give a larger `epochs` to train on, or `overwrite=True` "
                "to start again"
            )

    def _check(self, overwrite: bool) -> None:
        out = self.out
        if self.resume:
            if not out.is_dir():
                raise InputError(f"nothing to resume: run directory {out} does not exist")
            if self.saved_epochs(out) == 0:
                raise InputError(
                    f"nothing to resume in {out}: no checkpoint was saved (the run stopped "
                    "before its first epoch ended); start it again with `overwrite=True`"
                )
        else:
            check_output_dir(
                out,
                overwrite=overwrite,
                kind=RUN,
                exists_hint="pass `resume=True` to continue it or `overwrite=True` to replace it",
            )

    def release(self) -> None:
        """Lets go of ``out``'s lock (once)."""
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.__exit__(None, None, None)

    @staticmethod
    def saved_epochs(path: Path) -> int:
        """Epochs saved in ``path/checkpoints`` (checkpoint ``ckpt-N`` is epoch N)."""
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(str(path / "checkpoints")) if (path / "checkpoints").is_dir() else None
        return int(latest.rsplit("-", 1)[1]) if latest else 0

    def open(self) -> Path:
        """Creates the folder the run is written to (called once every check has passed)."""
        if self.replacing:
            self.dir = staging_directory(self.out, RUN)
        elif not self.resume:
            self.existed = self.out.is_dir()  # an empty folder: keep it, but nothing in it
            make_directory(self.out, RUN)
            self.fresh = True
        return self.dir

    def close(self) -> None:
        """The run is complete: swap it in (``overwrite``) or bring its manifest up to date."""
        if self.dir != self.out:
            swap_in(self.dir, self.out, RUN, on_swapped=self._swapped)
        else:
            with deferred_interrupts():
                mark_directory(self.dir, RUN)
                self.swapped = True

    def _swapped(self) -> None:
        self.swapped = True

    def failed(self, error: BaseException, epochs: int | None) -> BaseException:
        """Cleans up after ``error``; returns what to raise (an [`Interrupted`][bert_hub.core.errors.Interrupted] for
        Ctrl-C).

        A second Ctrl-C during the clean-up waits for it to end.
        """
        interrupted = isinstance(error, KeyboardInterrupt)
        with deferred_interrupts(redeliver=False):
            if self.swapped:
                message = f"interrupted after the run was complete; {self.out} holds the new run"
            elif self.dir != self.out:
                shutil.rmtree(self.dir, ignore_errors=True)
                message = f"interrupted; {self.out} is as it was (the new run was discarded)"
            elif self.saved_epochs(self.dir) == 0 and not self.resume:
                if self.fresh:
                    shutil.rmtree(self.dir, ignore_errors=True)
                    if self.existed:
                        self.dir.mkdir()
                message = "interrupted before the first epoch was saved; nothing was left behind"
            else:
                mark_directory(self.dir, RUN)
                saved = self.saved_epochs(self.dir)
                planned = epochs if epochs is not None else getattr(recorded_train_config(self.dir), "epochs", None)
                of = "" if planned is None else f" of {planned}"
                message = (
                    f"interrupted; {self.out} keeps {plural(saved, 'epoch')}{of}: continue it "
                    "with the same command and `resume=True`"
                )
        return Interrupted(message) if interrupted else no_answer(error)


RESUMABLE_CHANGES = ("epochs", "precision")
"""The settings a resumed run may change."""


def check_resumed_settings(out: Path, cfg: TrainConfig, settings: Options) -> None:
    """Refuses to resume with settings other than the run's own, common (``cfg``) or its task's
    (``settings``): the number of epochs may change, and the precision (the weights and the optimizer's
    state are float32 in either)."""
    differ: list[tuple[str, Any, Any]] = []
    for given in (cfg, settings):
        recorded = recorded_settings(out, type(given))
        if recorded is not None:
            differ += [
                (name, getattr(given, name), getattr(recorded, name))
                for name in given.names()
                if name not in RESUMABLE_CHANGES and getattr(given, name) != getattr(recorded, name)
            ]
    if differ:
        given_ = ", ".join(f"`{name}` {value!r}" for name, value, _ in differ[:4])
        kept = ", ".join(f"{value!r}" for _, _, value in differ[:4])
        verb = "differs" if len(differ) == 1 else "differ"
        raise InputError(
            f"`resume` continues {out} with the settings it started with; {given_} {verb} from its "
            f"train_config.yaml ({kept}): leave them out (only "
            f"{' and '.join(f'`{name}`' for name in RESUMABLE_CHANGES)} may change), "
            "or start a new run with `overwrite=True` or another `out`"
        )


def recorded_field(out: Path, key: str) -> Any:
    """The value of ``key`` in the run's ``train_config.yaml`` (None when the run has none, or no readable
    file: the resume checks then have nothing to compare)."""
    try:
        return (yaml.safe_load((out / "train_config.yaml").read_text(encoding="utf-8")) or {}).get(key)
    except (OSError, yaml.YAMLError, AttributeError):
        return None


def check_resumed_data(out: Path, fingerprint: str) -> None:
    """Refuses to resume on other data than the run started with (its ``train_config.yaml`` records the
    data's fingerprint)."""
    recorded = recorded_field(out, "data_fingerprint")
    if recorded is not None and recorded != fingerprint:
        raise InputError(
            f"`resume` continues {out} on the data it started with, and this data differs from it (other "
            "examples, labels or splits): give the same data, or start a new run with `overwrite=True` "
            "or another `out`"
        )


def check_resumed_base(out: Path, fingerprint: str, source: str) -> None:
    """Refuses to resume a LoRA run on a base model (its weights' ``fingerprint``, from the config ``source``)
    other than the one its adapters were trained on (its ``train_config.yaml`` records it)."""
    recorded = recorded_field(out, LORA_RECORD)
    if isinstance(recorded, dict) and recorded.get("fingerprint") != fingerprint:
        raise InputError(
            f"`resume` continues {out} on the base model its adapters were trained on, and the weights of "
            f"{source} differ from it (train_config.yaml: {LORA_RECORD}): restore that model, or start a new "
            "run with `overwrite=True` or another `out`"
        )


def check_resumed_task(out: Path, task: str) -> None:
    """Refuses to resume a run of another task (its checkpoint would not fit the model)."""
    recorded = recorded_field(out, "task")
    if recorded is not None and recorded != task:
        raise InputError(
            f"{out} is a {recorded} run, and this is {task}: resume it with `task` {recorded} and its data"
        )


class ScratchRun:
    """Where a non-chief worker of a multi-worker run writes: a temporary folder, removed at the end.

    Every worker must take part in saving checkpoints and the export
    (collective operations); only the chief's copies are the user's.
    """

    def __init__(self, out: Path):
        self.out = out
        self.dir = Path(tempfile.mkdtemp(prefix="bert_hub_worker_"))

    def open(self) -> Path:
        """The scratch folder (it exists already)."""
        return self.dir

    def close(self) -> None:
        """Removes the scratch folder."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def release(self) -> None:
        """Nothing to release: a worker holds no lock."""

    def failed(self, error: BaseException, epochs: int | None) -> BaseException:
        """Removes the scratch folder; returns what to raise."""
        self.close()
        if isinstance(error, KeyboardInterrupt):
            return Interrupted(
                "interrupted (a worker of a multi-worker run: the chief's run folder says what was kept)"
            )
        return no_answer(error)


def write_json(path: Path, data: Any) -> None:
    """Writes ``data`` as JSON to ``path``, atomically."""
    atomic_write_text(path, json.dumps(data, indent=1))


def _stopped_early(run: Path) -> dict[str, Any] | None:
    """What a finished run's ``summary.json`` says of its early stop (``None``: it did not stop early)."""
    try:
        stopped = json.loads((run / "summary.json").read_text(encoding="utf-8")).get("stopped_early")
    except (OSError, ValueError, AttributeError):
        return None
    return stopped if isinstance(stopped, dict) else None
