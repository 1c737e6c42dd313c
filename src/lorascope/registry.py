"""Registries of methods, tasks, rank strategies and serving backends: a new one is one module
that registers an entry.

In the style of PEFT's ``register_peft_method``: each entry is registered once under its name
(a second registration of the same name is refused), configs and the command line take the
allowed names from the registry, and the rest of lorascope asks an entry what it needs instead
of comparing names.

The built-in entries are registered by ``lorascope.methods.builtin``, ``lorascope.data.tasks``,
``lorascope.ranks.builtin`` and ``lorascope.serving.builtin``, loaded on the first look-up, so
this module sits below every other and imports none of them. A plug-in registers its own entries
when its module is imported:

    from lorascope.registry import MethodSpec, register_method
    register_method(MethodSpec(name="my-method", kind="full", hooks=MyHooks()))
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from lorascope.errors import LorascopeError

T = TypeVar("T")

MethodKind = Literal["full", "adapter", "baseline"]


class Registry(Generic[T]):
    """Entries by name; ``builtins`` names the module that registers the built-in ones on first use."""

    def __init__(self, kind: str, builtins: str) -> None:
        self.kind = kind
        self._builtins = builtins
        self._entries: dict[str, T] = {}
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            importlib.import_module(self._builtins)

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name``; a name already taken is an error, never a silent overwrite."""
        self._load()
        if name in self._entries:
            raise LorascopeError(f"a {self.kind} named {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        self._load()
        if name not in self._entries:
            raise LorascopeError(f"unknown {self.kind} {name!r}; registered: {', '.join(self._entries)}")
        return self._entries[name]

    def names(self) -> tuple[str, ...]:
        self._load()
        return tuple(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def unregister(self, name: str) -> None:
        """Remove an entry (for tests and plug-ins that register temporarily)."""
        self._entries.pop(name, None)


@dataclass(frozen=True)
class MethodSpec:
    """What lorascope needs to know of a fine-tuning method (or a baseline).

    Args:
        name: the ``method`` value in run configs.
        kind: ``full`` (trains the model's own weights), ``adapter`` (adds trainable modules to
            ``lora.target_modules``) or ``baseline`` (trains nothing: predictions from the labels).
        hooks: the behaviour (see ``lorascope.methods.base.MethodHooks``), or ``"module:Name"`` of
            it, imported when a run first needs it.
        checkpoints: whether runs keep resumable checkpoints.
        learning_rate, weight_decay: defaults when ``train`` leaves them unset.
        tuning_space: the default ``lorascope tune`` search space (run-config key → parameter).
        allocates_ranks: whether ``lora.strategy`` and ``lora.rank_config`` apply to it.
        train_defaults: other ``train`` keys of the method's recipe, used where a config leaves them unset.
        all_linear: adapters go on every linear layer but the head when ``lora.target_modules`` is unset
            (otherwise PEFT's default targets of the model family).
        description: one line for ``--help`` and the docs.
    """

    name: str
    kind: MethodKind
    hooks: Any = None
    checkpoints: bool = True
    learning_rate: float = 5e-4
    weight_decay: float = 0.0
    tuning_space: dict[str, dict] = field(default_factory=dict)
    allocates_ranks: bool = False
    train_defaults: dict[str, Any] = field(default_factory=dict)
    all_linear: bool = False
    description: str = ""

    @property
    def artifact(self) -> str | None:
        """The folder a run saves: ``adapter`` (PEFT), ``model`` (full weights) or none."""
        return {"adapter": "adapter", "full": "model", "baseline": None}[self.kind]

    def behaviour(self) -> Any:
        """The hooks object, imported on first use when given as ``"module:Name"``."""
        if isinstance(self.hooks, str):
            object.__setattr__(self, "hooks", _imported(self.hooks)())
        return self.hooks


@dataclass(frozen=True)
class FunctionSpec:
    """A registered function (a rank strategy, a serving backend), called through the entry.

    Args:
        name: the name it is chosen by (``lora.strategy``, ``serve-bench --backend``).
        function: the function, or ``"module:name"`` of it, imported on the first call.
        description: one line for ``--help`` and the docs.
    """

    name: str
    function: Callable[..., Any] | str
    description: str = ""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if isinstance(self.function, str):
            object.__setattr__(self, "function", _imported(self.function))
        return self.function(*args, **kwargs)  # type: ignore[operator]


def _imported(path: str) -> Any:
    """The object named by ``"module:name"``."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


METHODS: Registry[MethodSpec] = Registry("method", "lorascope.methods.builtin")
TASKS: Registry[Any] = Registry("task", "lorascope.data.tasks")
STRATEGIES: Registry[FunctionSpec] = Registry("rank strategy", "lorascope.ranks.builtin")
BACKENDS: Registry[FunctionSpec] = Registry("serving backend", "lorascope.serving.builtin")


def register_method(spec: MethodSpec) -> MethodSpec:
    """Register a method; its name becomes a valid ``method`` in run configs and study files."""
    return METHODS.register(spec.name, spec)


def register_task(task: Any) -> Any:
    """Register a task (an object with the interface of ``lorascope.data.tasks.SentenceTask``)."""
    return TASKS.register(task.name, task)


def register_strategy(name: str, function: Callable[..., Any] | str, description: str = "") -> FunctionSpec:
    """Register a rank strategy, a function of ``ranks.strategies.AllocationInputs`` returning the path
    of the rank config it wrote; its name becomes a valid ``lora.strategy``."""
    return STRATEGIES.register(name, FunctionSpec(name, function, description))


def register_backend(name: str, function: Callable[..., Any] | str, description: str = "") -> FunctionSpec:
    """Register a serving backend, a function ``(workload, out, echo)`` returning the benchmark's rows;
    its name becomes a choice of ``lorascope serve-bench --backend``."""
    return BACKENDS.register(name, FunctionSpec(name, function, description))


def method_spec(name: str) -> MethodSpec:
    return METHODS.get(name)


def names_of(kind: MethodKind) -> tuple[str, ...]:
    """The registered methods of one kind, e.g. the baselines."""
    return tuple(n for n in METHODS.names() if METHODS.get(n).kind == kind)


def one_of(value: str, names: tuple[str, ...]) -> str:
    """``value`` if it is among ``names``, else pydantic's own wording for a literal (for field errors)."""
    from pydantic_core import PydanticCustomError

    if value not in names:
        quoted = [repr(n) for n in names]
        listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
        raise PydanticCustomError("literal_error", f"Input should be {listed}")
    return value
