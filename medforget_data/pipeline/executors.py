"""Where a run's steps execute: in this process, in plan order (`local`), or as Ray tasks (`ray`).

Both run the same steps (pipeline/plan.py) through the same `BenchmarkRun.run_step`, which writes
through the run folder's layout and done-markers: a run resumes from whatever finished, whichever
executor ran it. On Ray a step's dependencies are its task's arguments (object refs), so Ray starts it
when they have finished and fails it when one failed; the run folder, the dataset folder and the user
cache (the pretrained base) must be on storage every node sees.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from medforget_data import progress
from medforget_data.errors import MedForgetError
from medforget_data.pipeline.plan import Step

if TYPE_CHECKING:
    from medforget_data.dataset.built import BuiltDataset
    from medforget_data.pipeline.config import RunConfig


class StepRunner(Protocol):
    """What an executor needs of a run (pipeline/runner.py `BenchmarkRun`)."""

    config: RunConfig
    dataset: BuiltDataset

    @property
    def run_dir(self) -> Path: ...

    def run_step(self, step: Step) -> None: ...


RAY_EXTRA = "medforget's ray extra: pip install 'ray>=2.9'"


def import_ray():
    """Ray, or one line naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise MedForgetError(f"--executor ray needs Ray ({RAY_EXTRA})") from None
    return ray


def step_resources(step: Step, config: RunConfig) -> dict[str, float]:
    """What one step holds while it runs: a core, and on a GPU run `ray_gpus` of a GPU for the steps that
    train or generate (a fraction lets small models share one card). A model training in several
    processes (`training_processes`) holds a core and, on a GPU run, a whole GPU per process."""
    on_gpu = config.device.startswith("cuda") and step.kind in ("base", "model", "reference", "cell")
    if step.kind == "model" and config.training_processes > 1:
        processes = config.training_processes
        return {"num_cpus": processes, "num_gpus": processes if on_gpu else 0}
    return {"num_cpus": 1, "num_gpus": config.ray_gpus if on_gpu else 0}


class LocalExecutor:
    """Every step in this process, one after the other, in plan order."""

    def prepare_base(self, config: RunConfig, dataset_dir: Path) -> None:
        """Nothing: the run builds its base when it is made."""

    def run(self, run: StepRunner, steps: list[Step], done: Callable[[Step], None], worker: Callable) -> None:
        for step in steps:
            run.run_step(step)
            done(step)


class RayExecutor:
    """Every step a Ray task, started when the steps it needs have finished."""

    def __init__(self, address: str | None) -> None:
        self.ray = import_ray()
        if not self.ray.is_initialized():  # a caller (a notebook, a test) may have started one
            # no dashboard: a run needs none, and it is the slowest part of starting a local cluster
            self.ray.init(
                address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING
            )

    def prepare_base(self, config: RunConfig, dataset_dir: Path) -> None:
        """The pretrained base, trained (first use) as a task of its own before any step reads it."""
        if config.pretrained() is None:
            return
        task = self.ray.remote(_pretrain_in_worker).options(**step_resources(Step(kind="base"), config))
        self.ray.get(task.remote(config, Path(dataset_dir).resolve()))

    def run(self, run: StepRunner, steps: list[Step], done: Callable[[Step], None], worker: Callable) -> None:
        """`worker(config, dataset_dir, run_dir, step, *needs)` runs one step in a Ray worker process."""
        remote = self.ray.remote(worker)
        # absolute: a worker's working directory is not the driver's (`--out runs/…` is relative)
        dataset_dir, run_dir = Path(run.dataset.folder).resolve(), Path(run.run_dir).resolve()
        by_ref: dict[Any, Step] = {}
        refs: dict[str, Any] = {}
        for step in steps:
            needs = [refs[name] for name in step.after]
            options = {**step_resources(step, run.config), "max_retries": 0}
            refs[step.name] = ref = remote.options(**options).remote(
                run.config, dataset_dir, run_dir, step, *needs
            )
            by_ref[ref] = step
        pending = list(refs.values())
        try:
            while pending:
                finished, pending = self.ray.wait(pending, num_returns=1)
                self.ray.get(finished[0])
                done(by_ref[finished[0]])
        except self.ray.exceptions.RayTaskError as error:
            for ref in pending:
                self.ray.cancel(ref)
            cause = error.cause if isinstance(error.cause, Exception) else None
            if isinstance(cause, MedForgetError):
                raise cause from None  # the step's own one-line error
            raise


def make_executor(config: RunConfig) -> LocalExecutor | RayExecutor:
    return RayExecutor(config.ray_address) if config.executor == "ray" else LocalExecutor()


def _pretrain_in_worker(config: RunConfig, dataset_dir: Path) -> None:
    from medforget_data.dataset.built import BuiltDataset
    from medforget_data.models.pretrain import pretrain_base

    with progress.quiet():
        pretrain_base(config.pretrained(), BuiltDataset.of(dataset_dir).manifest.build, device=config.device)
