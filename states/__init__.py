"""Pure state machines of Nomaflow: the run and step lifecycles as tables, with no I/O, clock or asyncio."""

from nomaflow.states.diagram import render_mermaid
from nomaflow.states.machine import IllegalTransition, Lifecycle, MachineTable, Transition
from nomaflow.states.run import RUN_TABLE, RunState, RunTrigger
from nomaflow.states.step import STEP_TABLE, StepState, StepTrigger

__all__ = [
    "RUN_TABLE",
    "STEP_TABLE",
    "IllegalTransition",
    "Lifecycle",
    "MachineTable",
    "RunState",
    "RunTrigger",
    "StepState",
    "StepTrigger",
    "Transition",
    "render_mermaid",
]
