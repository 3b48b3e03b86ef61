"""Pure state machines of Nomaflow: the run and step lifecycles as tables, with no I/O, clock or asyncio."""

from nomaflow.states.diagram import render_mermaid
from nomaflow.states.machine import IllegalTransition, Lifecycle, MachineTable, Transition
from nomaflow.states.records import TRANSITION, is_transition
from nomaflow.states.run import FINISHED, RUN_TABLE, RunState, RunTrigger
from nomaflow.states.step import STEP_TABLE, StepState, StepTrigger

__all__ = [
    "FINISHED",
    "RUN_TABLE",
    "STEP_TABLE",
    "TRANSITION",
    "IllegalTransition",
    "Lifecycle",
    "MachineTable",
    "RunState",
    "RunTrigger",
    "StepState",
    "StepTrigger",
    "Transition",
    "is_transition",
    "render_mermaid",
]
