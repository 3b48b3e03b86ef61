"""Every (state, trigger) pair of both machines: legal ones move to the table's destination, illegal
ones raise and leave the state unchanged."""

from __future__ import annotations

from enum import StrEnum
from types import SimpleNamespace
from typing import Any

import pytest
from transitions import MachineError

from nomaflow.states import (
    RUN_TABLE,
    STEP_TABLE,
    IllegalTransition,
    Lifecycle,
    MachineTable,
    RunState,
    StepState,
)
from nomaflow.states.machine import _machine_for, _SharedMachine

# How to bring a fresh lifecycle into each state, using only legal triggers.
ROUTES: dict[str, dict[str, tuple[str, ...]]] = {
    "run": {
        "pending": (),
        "running": ("admit",),
        "succeeded": ("admit", "succeed"),
        "failed": ("admit", "fail"),
        "aborted": ("admit", "abort"),
        "skipped": ("skip",),
    },
    "step": {
        "pending": (),
        "running": ("start",),
        "retrying": ("start", "retry"),
        "succeeded": ("start", "succeed"),
        "failed": ("start", "fail"),
        "aborted": ("start", "abort"),
        "skipped": ("skip",),
    },
}

EXPECTED_MOVES = {
    "run": {
        ("pending", "admit"): "running",
        ("pending", "skip"): "skipped",
        ("running", "succeed"): "succeeded",
        ("running", "fail"): "failed",
        ("running", "abort"): "aborted",
    },
    "step": {
        ("pending", "start"): "running",
        ("pending", "skip"): "skipped",
        ("running", "succeed"): "succeeded",
        ("running", "retry"): "retrying",
        ("running", "fail"): "failed",
        ("running", "abort"): "aborted",
        ("retrying", "resume"): "running",
        ("retrying", "abort"): "aborted",
        ("pending", "reuse"): "succeeded",
    },
}


def _pairs(table: MachineTable[Any, Any]) -> list[tuple[MachineTable[Any, Any], StrEnum, StrEnum]]:
    return [(table, state, trigger) for state in table.states for trigger in table.triggers]


def _at(table: MachineTable[Any, Any], state: StrEnum) -> Lifecycle[Any, Any]:
    life: Lifecycle[Any, Any] = Lifecycle(table)
    for trigger in ROUTES[table.name][state.value]:
        life.fire(table.triggers(trigger))
    assert life.state is state
    return life


@pytest.mark.parametrize(
    ("table", "state", "trigger"),
    _pairs(RUN_TABLE) + _pairs(STEP_TABLE),
    ids=lambda v: v.name if isinstance(v, MachineTable) else str(v),
)
def test_every_state_and_trigger(table: MachineTable[Any, Any], state: StrEnum, trigger: StrEnum) -> None:
    life = _at(table, state)
    before = list(life.path)
    expected = EXPECTED_MOVES[table.name].get((state.value, trigger.value))
    if expected is None:
        with pytest.raises(IllegalTransition) as raised:
            life.fire(trigger)
        assert raised.value.state == state.value and raised.value.trigger == trigger.value
        assert life.state is state
        assert life.path == before
        assert not life.can(trigger)
    else:
        assert life.can(trigger)
        assert life.fire(trigger).value == expected
        assert life.path[-1].source is state and life.path[-1].dest.value == expected


def test_tables_cover_exactly_the_expected_moves() -> None:
    for table in (RUN_TABLE, STEP_TABLE):
        moves = {(s.value, t.trigger.value): t.dest.value for t in table.transitions for s in t.sources}
        assert moves == EXPECTED_MOVES[table.name]


def test_final_states_have_no_way_out() -> None:
    for table in (RUN_TABLE, STEP_TABLE):
        for transition in table.transitions:
            assert not set(transition.sources) & table.final


def test_persisted_run_statuses_are_the_products() -> None:
    assert {s.value for s in RunState} - {"pending"} == {
        "running",
        "succeeded",
        "failed",
        "aborted",
        "skipped",
    }
    assert StepState.RETRYING in STEP_TABLE.states


@pytest.mark.parametrize(
    ("table", "state", "trigger"),
    _pairs(RUN_TABLE) + _pairs(STEP_TABLE),
    ids=lambda v: v.name if isinstance(v, MachineTable) else str(v),
)
def test_a_fire_agrees_with_transitions_own_trigger(
    table: MachineTable[Any, Any], state: StrEnum, trigger: StrEnum
) -> None:
    """Lifecycles look their moves up in the shared Machine; a model put in the same state and sent
    the same trigger through transitions' general path must end where the lifecycle does, or raise
    where it raises."""
    machine = _machine_for(table)
    model = SimpleNamespace()
    machine.add_model(model, initial=state.value)
    try:
        life = _at(table, state)
        try:
            dest = life.fire(trigger)
        except IllegalTransition:
            with pytest.raises(MachineError):
                model.trigger(trigger.value)
            assert model.state == state.value
        else:
            model.trigger(trigger.value)
            assert model.state == dest.value
    finally:
        machine.remove_model(model)


def test_lifecycles_share_one_machine() -> None:
    assert Lifecycle(STEP_TABLE)._moves is Lifecycle(STEP_TABLE)._moves is _machine_for(STEP_TABLE).moves
    assert _machine_for(RUN_TABLE) is not _machine_for(STEP_TABLE)


def test_a_machine_with_callbacks_is_refused() -> None:
    """Lifecycles skip transitions' callback machinery, so callbacks added to a machine would be
    silently ignored: the check refuses them instead."""
    machine = _SharedMachine(STEP_TABLE)
    machine.refuse_callbacks()
    machine.add_transition("start", "pending", "running", after="notify")
    with pytest.raises(ValueError, match="step: lifecycles do not run transition callbacks"):
        machine.refuse_callbacks()
