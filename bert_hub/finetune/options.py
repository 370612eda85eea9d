"""Options as data: a frozen dataclass whose fields say their default, help, checks and choices.

Every group of options bert_hub takes is one such class: the training
settings every task shares ([`TrainConfig`][bert_hub.finetune.train_config.TrainConfig]),
each task's own settings, the data options of its reader and the inputs its
exported model predicts from. From the fields alone come the training
YAML's schema and checks here, and ``bert-hub``'s flags and ``--help`` in
the CLI, so a fact is stated once. Messages name the field (``doc_stride``);
the CLI writes its flag instead (``--doc-stride``).

Examples:
    >>> import dataclasses
    >>> from bert_hub.finetune.options import Options, option
    >>> @dataclasses.dataclass(frozen=True)
    ... class Windows(Options):
    ...     stride: int = option(64, "tokens between window starts", at_least=1)
    >>> Windows().replace(stride=32).stride
    32
    >>> Windows(stride=0)
    Traceback (most recent call last):
    ...
    bert_hub.finetune.options.OptionError: `stride` must be at least 1, got 0
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from bert_hub.core.errors import ConfigError, InputError

T = TypeVar("T", bound="Options")


def option(
    default: Any,
    help: str,
    *,
    choices: tuple[str, ...] | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    positive: bool = False,
    fraction: bool = False,
    flag: str | None = None,
    metavar: str | None = None,
    positional: bool = False,
    repeated: bool = False,
    training_only: bool = False,
) -> Any:
    """A field of an [`Options`][bert_hub.finetune.options.Options] class.

    Args:
        default: the value when none is given (``None``: unset).
        help: one phrase for ``--help`` and the docs.
        choices: the values a string option takes.
        at_least: the smallest value a number may take.
        at_most: the largest value a number may take.
        positive: a number must be above 0.
        fraction: a number must be in [0, 1).
        flag: the CLI's flag when it is not the name with ``-`` for ``_`` (``--format`` for ``fmt``).
        metavar: how ``--help`` shows the value.
        positional: the CLI takes it as its positional arguments (``TEXT ...``).
        repeated: a list the CLI builds from a flag given several times.
        training_only: a data option ``evaluate`` does not take (the model decides it).
    """
    return dataclasses.field(
        default=default,
        metadata={
            "help": help,
            "choices": choices,
            "at_least": at_least,
            "at_most": at_most,
            "positive": positive,
            "fraction": fraction,
            "flag": flag,
            "metavar": metavar,
            "positional": positional,
            "repeated": repeated,
            "training_only": training_only,
        },
    )


class OptionError(ConfigError):
    """An option's value its field refuses: names the field as a Python caller wrote it (`` `seed` ``)."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"`{field}` {problem}")
        self.field, self.problem = field, problem


_KINDS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "int | None": (int, type(None)),
    "float": (float, int),
    "float | None": (float, int, type(None)),
    "bool": (bool,),
    "str": (str,),
    "str | None": (str, type(None)),
    "tuple[str, ...]": (tuple,),
}
"""What a field of each declared type accepts."""
_KIND_NAMES = {
    "int": "a whole number",
    "int | None": "a whole number or None",
    "float": "a number",
    "float | None": "a number or None",
    "bool": "True or False",
    "str": "a string",
    "str | None": "a string or None",
    "tuple[str, ...]": "a tuple of strings",
}


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in kinds:
        return False
    if not isinstance(value, kinds):
        return False
    return not isinstance(value, tuple) or all(isinstance(v, str) for v in value)


@dataclasses.dataclass(frozen=True)
class Options:
    """A group of options (a frozen dataclass of [`option`][bert_hub.finetune.options.option] fields).

    Subclasses add fields, and checks that involve several of them in
    `more_problems`.
    """

    source: ClassVar[str] = "options"
    """What a message calls this group when it names no file."""

    @classmethod
    def fields(cls) -> tuple[dataclasses.Field, ...]:
        """The options, in declaration order."""
        return dataclasses.fields(cls)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The options' names."""
        return tuple(f.name for f in cls.fields())

    def __post_init__(self) -> None:
        for name, problem in self.problems():
            raise OptionError(name, problem)

    def problems(self) -> list[tuple[str, str]]:
        """``(field, what is wrong)`` for every value its field's type or checks refuse (empty: all good)."""
        out: list[tuple[str, str]] = []
        for f in self.fields():
            value, meta = getattr(self, f.name), f.metadata
            kind = _KINDS.get(str(f.type))
            if kind is not None and not _is(value, kind):
                out.append((f.name, f"must be {_KIND_NAMES[str(f.type)]}, got {value!r}"))
                continue
            if isinstance(value, float) and not math.isfinite(value):
                out.append((f.name, f"must be a finite number, got {value}"))
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                if meta.get("choices") and value not in meta["choices"]:
                    out.append((f.name, f"must be one of {', '.join(meta['choices'])}, got {value!r}"))
                continue
            if meta.get("at_least") is not None and value < meta["at_least"]:
                out.append((f.name, f"must be at least {meta['at_least']:g}, got {value:g}"))
            if meta.get("at_most") is not None and value > meta["at_most"]:
                out.append((f.name, f"must be at most {meta['at_most']:g}, got {value:g}"))
            if meta.get("positive") and value <= 0:
                out.append((f.name, f"must be positive, got {value:g}"))
            if meta.get("fraction") and not 0 <= value < 1:
                out.append((f.name, f"must be in [0, 1), got {value:g}"))
        return out or self.more_problems()

    def more_problems(self) -> list[tuple[str, str]]:
        """Checks of a subclass that involve several fields (run when each field is right)."""
        return []

    def checked(self: T, source: str | None = None) -> T:
        """This group, or a [`ConfigError`][bert_hub.core.errors.ConfigError] naming ``source`` and the
        first field at fault."""
        for name, message in self.problems():
            raise ConfigError(f"{source or self.source}: field '{name}': {message}")
        return self

    def replace(self: T, **changes: Any) -> T:
        """A copy with ``changes`` (``None`` values are left out), checked (an
        [`OptionError`][bert_hub.finetune.options.OptionError] names the field at fault)."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise InputError(
                f"{type(self).__name__} has no option {unknown[0]!r}; its options are {', '.join(self.names())}"
            )
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        """The options by name (what a run records)."""
        return {f.name: getattr(self, f.name) for f in self.fields()}

    @classmethod
    def schema(cls) -> dict[str, tuple[Any, bool]]:
        """The YAML schema: ``{field: (type, required)}`` (every option has a default: none is required)."""
        from bert_hub.core.config import yaml_schema

        return yaml_schema(cls)

    @classmethod
    def from_mapping(cls: type[T], values: Mapping[str, Any], source: str, base: T | None = None) -> T:
        """``base`` (default: the defaults) with ``values`` (from YAML: numbers of float fields as floats),
        checked; every key must be a field (see `check_fields`)."""
        from bert_hub.core.config import check_fields

        schema = cls.schema()
        given = check_fields(dict(values), schema, source)
        start = base if base is not None else cls()
        changes = {k: (float(v) if schema[k][0] is float and v is not None else v) for k, v in given.items()}
        try:
            return dataclasses.replace(start, **changes)
        except OptionError as e:
            raise ConfigError(f"{source}: field '{e.field}': {e.problem}") from None


@dataclasses.dataclass(frozen=True)
class NoOptions(Options):
    """The empty group: a task with no settings of its own, or no data options."""
