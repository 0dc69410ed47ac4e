"""A run as a graph of steps: what each step needs finished first, and what its stage times add up to.

The same plan serves both executors (pipeline/executors.py): in-process it is run in list order (a
topological order), on Ray each step is a task whose arguments are its dependencies' results. Torch-free,
so the bench computes a run's critical path from its timings without loading a model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from medforget_data.constants import REFERENCE_METHODS, Level
from medforget_data.pipeline.layout import Stage

# base: the pretrained base's timing line; model: vanilla (no level) or a level's oracle trained;
# reference: a level's vanilla scores and oracle cell (every other cell's reference); cell: a method at a
# level (unlearn or sweep → generate → score → attack); leaderboard: the board over the levels so far
StepKind = Literal["base", "model", "reference", "cell", "leaderboard"]


class Step(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: StepKind
    level: Level | None = None
    method: str | None = None
    after: tuple[str, ...] = ()  # the names of the steps that must finish first

    @property
    def name(self) -> str:
        if self.kind in ("base", "model", "cell"):
            return self.stage.name
        return f"{self.kind}-{self.level}"

    @property
    def stage(self) -> Stage:
        """The stage whose marker this step writes (a reference step writes two: `stages`)."""
        if self.kind == "base":
            return Stage.base()
        if self.kind == "model":
            return Stage.model(self.level)
        if self.kind == "cell":
            return Stage.cell(self.level, self.method)
        raise ValueError(f"a {self.kind} step has no single stage")

    @property
    def stages(self) -> tuple[Stage, ...]:
        """The stages whose markers (and stage times) this step writes."""
        if self.kind == "reference":
            return tuple(Stage.cell(self.level, method) for method in REFERENCE_METHODS)
        if self.kind == "leaderboard":
            return ()
        return (self.stage,)


def plan_steps(levels: tuple[str, ...], methods: tuple[str, ...]) -> list[Step]:
    """Every step of a run over `levels` and unlearning `methods`, in the order the local executor runs
    them: vanilla, then level by level its oracle, references, cells and the leaderboard so far (a run
    stopped early shows every level it finished)."""
    base = Step(kind="base")
    vanilla = Step(kind="model", after=(base.name,))
    steps = [base, vanilla]
    board: Step | None = None
    for level in levels:
        oracle = Step(kind="model", level=level, after=(base.name,))
        reference = Step(kind="reference", level=level, after=(vanilla.name, oracle.name))
        cells = [Step(kind="cell", level=level, method=m, after=(reference.name,)) for m in methods]
        board = Step(
            kind="leaderboard",
            level=level,
            # the previous level's board first: two boards are never written at once
            after=(reference.name, *(cell.name for cell in cells), *((board.name,) if board else ())),
        )
        steps += [oracle, reference, *cells, board]
    return steps


def step_seconds(step: Step, stages: dict[str, dict[str, float]]) -> float:
    """A step's compute seconds from a run's `timings.json` stages (the oracle cell's "unlearn" is its
    training, already the oracle model step's)."""
    total = 0.0
    for stage in step.stages:
        for kind, value in stages.get(stage.name, {}).items():
            if not (stage.method == "oracle" and kind == "unlearn"):
                total += value
    return total


def critical_path(steps: list[Step], seconds: dict[str, float]) -> tuple[float, list[str]]:
    """The longest chain of dependent steps by `seconds` (per step name): the least wall time any
    number of workers could take, and the chain."""
    finish: dict[str, tuple[float, list[str]]] = {}
    for step in steps:  # plan order is topological
        before = max((finish[name] for name in step.after), default=(0.0, []), key=lambda f: f[0])
        finish[step.name] = (before[0] + seconds.get(step.name, 0.0), [*before[1], step.name])
    return max(reversed(finish.values()), key=lambda f: f[0])  # a tie: the chain that ends last
