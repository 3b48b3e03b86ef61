"""A declarative machine table and the per-actor lifecycle that walks it on a shared `transitions.Machine`.

One `Machine` is built per table and shared by every lifecycle of that kind: a machine per object costs
about 50 KB, a model on a shared machine a few KB, and an engine may hold thousands of in-flight runs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from transitions import Machine, MachineError

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)


class IllegalTransition(Exception):
    """A trigger was fired in a state that has no transition for it; the state did not change."""

    def __init__(self, machine: str, state: str, trigger: str) -> None:
        super().__init__(f"{machine}: no transition '{trigger}' from state '{state}'")
        self.machine = machine
        self.state = state
        self.trigger = trigger


@dataclass(frozen=True)
class Transition(Generic[S, T]):
    trigger: T
    sources: tuple[S, ...]
    dest: S


@dataclass(frozen=True)
class MachineTable(Generic[S, T]):
    """Everything that defines one machine: its states, where it starts, and every legal move."""

    name: str
    states: type[S]
    triggers: type[T]
    initial: S
    transitions: tuple[Transition[S, T], ...]
    final: frozenset[S]

    def dest(self, state: S, trigger: T) -> S | None:
        for transition in self.transitions:
            if transition.trigger == trigger and state in transition.sources:
                return transition.dest
        return None


@dataclass(frozen=True)
class Step(Generic[S, T]):
    """One move a lifecycle made, in order: what the diagram highlights as the path taken."""

    trigger: T
    source: S
    dest: S


class _Model:
    """The object `transitions` mutates (it adds `state` and a method per trigger); only Lifecycle uses it."""

    state: str


class _SharedMachine(Machine):
    """A Machine that binds no per-state or per-trigger convenience methods (`is_running`, `start`,
    `may_start`, ...) on its models: lifecycles fire through `model.trigger(name)` only. Binding
    them is most of what adding a model costs, and every run and step adds one."""

    def _add_trigger_to_model(self, trigger: str, model: Any) -> None:
        pass

    def _add_model_to_state(self, state: Any, model: Any) -> None:
        pass


_shared: dict[str, Machine] = {}


@functools.cache
def _members(states: type[S]) -> dict[str, S]:
    return {state.value: state for state in states}


def _machine_for(table: MachineTable[S, T]) -> Machine:
    machine = _shared.get(table.name)
    if machine is None:
        machine = _SharedMachine(
            model=None,
            states=[state.value for state in table.states],
            transitions=[
                {"trigger": t.trigger.value, "source": [s.value for s in t.sources], "dest": t.dest.value}
                for t in table.transitions
            ],
            initial=table.initial.value,
            auto_transitions=False,
            ignore_invalid_triggers=False,
        )
        _shared[table.name] = machine
    return machine


@dataclass
class Lifecycle(Generic[S, T]):
    """The current state of one run or step, moved only by the triggers in its table.

    Call `close()` when the owner is done so the shared machine forgets the model.
    """

    table: MachineTable[S, T]
    path: list[Step[S, T]] = field(default_factory=list)
    _model: _Model = field(default_factory=_Model, repr=False)

    def __post_init__(self) -> None:
        _machine_for(self.table).add_model(self._model, initial=self.table.initial.value)

    @property
    def state(self) -> S:
        # The model holds the state's name (transitions' own representation); a dict lookup turns it
        # into the enum member more cheaply than calling the enum does.
        state: S = _members(self.table.states)[self._model.state]
        return state

    @property
    def is_final(self) -> bool:
        return self.state in self.table.final

    def fire(self, trigger: T) -> S:
        source = self.state
        try:
            self._model.trigger(trigger.value)  # type: ignore[attr-defined]  # added by transitions
        except (MachineError, AttributeError) as exc:
            raise IllegalTransition(self.table.name, source.value, trigger.value) from exc
        dest = self.state
        self.path.append(Step(trigger, source, dest))
        return dest

    def can(self, trigger: T) -> bool:
        return self.table.dest(self.state, trigger) is not None

    def close(self) -> None:
        machine = _shared.get(self.table.name)
        if machine is not None and self._model in machine.models:
            machine.remove_model(self._model)
