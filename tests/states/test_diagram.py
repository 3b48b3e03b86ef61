"""Mermaid diagrams come from the tables; the path taken and the current state are highlighted."""

from __future__ import annotations

from nomaflow.states import RUN_TABLE, STEP_TABLE, Lifecycle, StepTrigger, render_mermaid


def test_plain_diagram_lists_every_transition() -> None:
    text = render_mermaid(STEP_TABLE)
    assert text.startswith("stateDiagram-v2\n")
    assert "[*] --> pending" in text
    for transition in STEP_TABLE.transitions:
        for source in transition.sources:
            assert f"{source.value} --> {transition.dest.value}: {transition.trigger.value}" in text
    assert "class " not in text.replace("classDef", "")


def test_path_of_a_retried_step_is_numbered_and_current_state_marked() -> None:
    life = Lifecycle(STEP_TABLE)
    for trigger in ("start", "retry", "resume", "retry", "resume", "succeed"):
        life.fire(StepTrigger(trigger))
    path = [(m.trigger.value, m.source.value, m.dest.value) for m in life.path]
    text = render_mermaid(STEP_TABLE, path, current="succeeded")
    assert "running --> retrying: retry #2, #4" in text
    assert "retrying --> running: resume #3, #5" in text
    assert "pending --> running: start #1" in text
    assert "class succeeded current" in text
    assert "class running visited" in text
    assert "class failed" not in text


def test_run_diagram_current_state_without_path() -> None:
    text = render_mermaid(RUN_TABLE, current="pending")
    assert "class pending current" in text
