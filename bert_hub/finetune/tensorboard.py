"""TensorBoard event files for a training run: ``tensorboard --logdir RUN``.

With ``tensorboard=True`` (``bert-hub train --tensorboard``) a run writes
event files into its own ``tensorboard/`` folder: ``train/`` holds each
step's loss (the epoch's running mean, as Keras' progress bar shows it) and
learning rate, ``epochs/`` each epoch's training and
validation values, its examples per second and the precision it ran in (as
text). They are written with ``tf.summary`` (TensorFlow itself); viewing
them takes the ``tensorboard`` package (``pip install "bert_hub[tensorboard]"``).
A resumed run appends to them, from the step it resumes at.

Examples:
    ```bash
    tensorboard --logdir runs/spam/tensorboard
    ```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FOLDER = "tensorboard"
"""The run's folder of event files."""


def tensorboard_callback(run: Path, optimizer: Any, history: list[dict[str, Any]]) -> Any:
    """A ``tf_keras`` callback that writes the run's event files under ``run/tensorboard``; it reads each epoch's
    speed and precision from ``history`` (the run's records, which the epoch recorder fills before it is called)."""
    import tensorflow as tf
    import tf_keras

    steps = tf.summary.create_file_writer(str(run / FOLDER / "train"))
    epochs = tf.summary.create_file_writer(str(run / FOLDER / "epochs"))

    def learning_rate() -> float:
        rate = optimizer.learning_rate
        if isinstance(rate, tf_keras.optimizers.schedules.LearningRateSchedule):
            rate = rate(optimizer.iterations)
        return float(tf.convert_to_tensor(rate))

    class TensorBoardLog(tf_keras.callbacks.Callback):
        """Writes each step's loss and learning rate and each epoch's values."""

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            with steps.as_default(step=int(optimizer.iterations.numpy())):
                if logs and "loss" in logs:
                    tf.summary.scalar("loss", float(logs["loss"]))
                tf.summary.scalar("learning_rate", learning_rate())

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            record = history[-1] if history and history[-1]["epoch"] == epoch + 1 else {}
            with epochs.as_default(step=epoch + 1):
                for name, value in (logs or {}).items():
                    tf.summary.scalar(name, float(value))
                if "examples_per_second" in record:
                    tf.summary.scalar("examples_per_second", float(record["examples_per_second"]))
                    tf.summary.text("precision", str(record["precision"]))
            steps.flush()
            epochs.flush()

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            steps.close()
            epochs.close()

    return TensorBoardLog()
