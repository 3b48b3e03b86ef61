"""A declarative machine table and the per-actor lifecycle that walks it on a shared `transitions.Machine`.

One `Machine` is built per table and shared by every lifecycle of that kind: a machine per object costs
about 50 KB, and an engine may hold thousands of in-flight runs. A lifecycle is a state and the path
that led there, a few hundred bytes; each fire takes its destination from the machine's transitions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, NamedTuple, TypeVar

from transitions import Machine

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


class Move(NamedTuple, Generic[S, T]):
    """One move a lifecycle made, in order: what the diagram highlights as the path taken (a named
    tuple: see docs/benchmarks.md, "Design notes for speed")."""

    trigger: T
    source: S
    dest: S


class _SharedMachine(Machine):
    """One `transitions.Machine` per table, holding its states, events and transitions.

    Lifecycles are not added to it as models. transitions keeps its models in a list (adding and
    removing one is linear in how many it holds, and an engine holds thousands) and sends each trigger
    through its general path (event data, a queue, callback lists, debug logging). Our tables have no
    callbacks or conditions (checked when the machine is built), so a fire only has to find its
    transition (what that saves: docs/benchmarks.md, "Design notes for speed"). `moves` is read once
    from this machine's events: for each trigger and source, the destination of the Transition that
    `model.trigger` would execute.
    """

    def __init__(self, table: MachineTable[Any, Any]) -> None:
        super().__init__(
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
        self.table_name = table.name
        self.refuse_callbacks()
        members = {state.value: state for state in table.states}
        # trigger -> source -> dest; a pair missing here is a pair transitions would refuse.
        self.moves: dict[str, dict[str, Any]] = {
            name: {source: members[found[0].dest] for source, found in event.transitions.items() if found}
            for name, event in self.events.items()
        }

    def refuse_callbacks(self) -> None:
        """Raise if the machine, a transition or a state has a callback or condition: a lifecycle would
        skip it."""
        hooks: list[list[Any]] = [
            self.before_state_change,
            self.after_state_change,
            self.prepare_event,
            self.finalize_event,
        ]
        for event in self.events.values():
            for transitions in event.transitions.values():
                hooks += [[*t.prepare, *t.conditions, *t.before, *t.after] for t in transitions]
        hooks += [[*state.on_enter, *state.on_exit] for state in self.states.values()]
        if any(hooks):
            raise ValueError(f"{self.table_name}: lifecycles do not run transition callbacks")


_shared: dict[str, _SharedMachine] = {}
_NO_MOVES: dict[str, Any] = {}


def _machine_for(table: MachineTable[S, T]) -> _SharedMachine:
    machine = _shared.get(table.name)
    if machine is None:
        machine = _shared[table.name] = _SharedMachine(table)
    return machine


@dataclass
class Lifecycle(Generic[S, T]):
    """The current state of one run or step, moved only by the transitions of its table's machine."""

    table: MachineTable[S, T]
    path: list[Move[S, T]] = field(default_factory=list)
    _state: S = field(init=False, repr=False)
    _moves: dict[str, dict[str, Any]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        machine = _machine_for(self.table)
        self._moves = machine.moves
        self._state = self.table.initial

    @property
    def state(self) -> S:
        return self._state

    @property
    def is_final(self) -> bool:
        return self._state in self.table.final

    def fire(self, trigger: T) -> S:
        source = self._state
        # str() of a StrEnum member is its plain value (see docs/benchmarks.md, "Design notes for speed").
        dest: S | None = self._moves.get(str(trigger), _NO_MOVES).get(str(source))
        if dest is None:
            raise IllegalTransition(self.table.name, source.value, trigger.value)
        self._state = dest
        self.path.append(Move(trigger, source, dest))
        return dest

    def can(self, trigger: T) -> bool:
        return self._state.value in self._moves.get(trigger.value, {})
