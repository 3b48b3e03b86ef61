"""Every (state, trigger) pair of both machines: legal ones move to the table's destination, illegal
ones raise and leave the state unchanged."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import pytest

from states import RUN_TABLE, STEP_TABLE, IllegalTransition, Lifecycle, MachineTable, RunState, StepState

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
    try:
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
    finally:
        life.close()


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


def test_lifecycles_share_one_machine_and_forget_closed_models() -> None:
    from states.machine import _machine_for

    machine = _machine_for(STEP_TABLE)
    before = len(machine.models)
    lives = [Lifecycle(STEP_TABLE) for _ in range(50)]
    assert len(machine.models) == before + 50
    for life in lives:
        life.close()
    assert len(machine.models) == before
