"""A run's stages as values, and the one place that knows where a run folder keeps what.

No stage name is ever split to find its level or method: the `Stage` is kept beside its marker.
The layout is torch-free, so the leaderboard and bench read run folders through it too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from medforget_data.constants import Level
from medforget_data.scoring.results import results_path

StageKind = Literal["base", "model", "cell"]


class Stage(BaseModel):
    """The pretrained base (cached per machine, outside the run folder), a model training (vanilla: no
    level; an oracle: its level) or one table cell (level × method)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: StageKind
    level: Level | None = None
    method: str | None = None

    @classmethod
    def model(cls, oracle_level: Level | None) -> Stage:
        return cls(kind="model", level=oracle_level)

    @classmethod
    def base(cls) -> Stage:
        return cls(kind="base")

    @classmethod
    def cell(cls, level: Level, method: str) -> Stage:
        return cls(kind="cell", level=level, method=method)

    @property
    def model_name(self) -> str:
        """A model stage's folder name: `vanilla` or `oracle-<level>`."""
        return "vanilla" if self.level is None else f"oracle-{self.level}"

    @property
    def name(self) -> str:
        """The marker's file stem and the stage's label in `timings.json`."""
        if self.kind == "base":
            return "base"
        if self.kind == "model":
            return f"model-{self.model_name}"
        return f"cell-{self.level}-{self.method}"


class RunLayout:
    """Every path of a run folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def run_record(self) -> Path:
        return self.root / "run.json"

    @property
    def timings(self) -> Path:
        return self.root / "timings.json"

    @property
    def leaderboard(self) -> Path:
        return self.root / "leaderboard"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def lock(self) -> Path:
        return self.root / "run.lock"

    def marker(self, stage: Stage) -> Path:
        return self.state_dir / f"{stage.name}.json"

    def model_dir(self, stage: Stage) -> Path:
        return self.root / "models" / stage.model_name

    def results(self, level: str, method: str) -> Path:
        return results_path(self.results_dir, level, method)

    def submission(self, level: str, method: str) -> Path:
        return self.root / "submissions" / level / f"{method}.jsonl"
