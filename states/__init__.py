"""Pure state machines of Nomaflow: the run and step lifecycles as tables, with no I/O, clock or asyncio."""

from states.diagram import render_mermaid
from states.machine import IllegalTransition, Lifecycle, MachineTable, Transition
from states.run import RUN_TABLE, RunState, RunTrigger
from states.step import STEP_TABLE, StepState, StepTrigger

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
