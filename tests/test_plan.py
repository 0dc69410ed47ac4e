"""The run's step graph (what each step waits for), its critical path, and the Ray executor's extra."""

from __future__ import annotations

import sys

import pytest

from medforget_data.cli import main
from medforget_data.pipeline.plan import Step, critical_path, plan_steps, step_seconds


def test_the_plan_orders_each_level_after_its_models_and_boards_one_after_another() -> None:
    steps = plan_steps(("patient", "section"), ("ga",))
    names = [step.name for step in steps]
    assert names == [
        "base",
        "model-vanilla",
        "model-oracle-patient",
        "reference-patient",
        "cell-patient-ga",
        "leaderboard-patient",
        "model-oracle-section",
        "reference-section",
        "cell-section-ga",
        "leaderboard-section",
    ]
    after = {step.name: step.after for step in steps}
    assert after["model-oracle-section"] == ("base",)  # an oracle does not wait for vanilla
    assert after["reference-section"] == ("model-vanilla", "model-oracle-section")
    assert after["cell-section-ga"] == ("reference-section",)
    assert after["leaderboard-section"] == ("reference-section", "cell-section-ga", "leaderboard-patient")
    # a topological order: every step's needs come before it
    seen: set[str] = set()
    for step in steps:
        assert set(step.after) <= seen
        seen.add(step.name)


def test_critical_path_and_step_seconds_by_hand() -> None:
    steps = plan_steps(("patient", "section"), ("ga",))
    seconds = {
        "model-vanilla": 10.0,
        "model-oracle-patient": 4.0,
        "model-oracle-section": 12.0,
        "reference-patient": 1.0,
        "reference-section": 1.0,
        "cell-patient-ga": 5.0,
        "cell-section-ga": 2.0,
    }
    # section: max(vanilla 10, its oracle 12) + 1 + 2 = 15; patient: vanilla 10 + 1 + 5 = 16, and the
    # section board waits for the patient board (boards take 0 s)
    length, chain = critical_path(steps, seconds)
    assert length == 16.0
    assert chain == [
        "base",
        "model-vanilla",
        "reference-patient",
        "cell-patient-ga",
        "leaderboard-patient",
        "leaderboard-section",
    ]
    # a reference step is the vanilla and oracle cells' markers; the oracle's "unlearn" is its training
    stages = {
        "cell-patient-vanilla": {"unlearn": 0.0, "generate": 2.0, "score": 1.0},
        "cell-patient-oracle": {"unlearn": 99.0, "generate": 2.5, "attack": 0.5},
    }
    assert step_seconds(Step(kind="reference", level="patient"), stages) == 6.0
    assert step_seconds(Step(kind="leaderboard", level="patient"), stages) == 0.0


def test_the_ray_executor_without_ray_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    out = tmp_path / "run"
    assert main(["run", "--size", "mini", "--model", "tiny", "--executor", "ray", "--out", str(out)]) == 2
    expected = "error: --executor ray needs Ray (medforget's ray extra: pip install 'ray>=2.9')"
    assert capsys.readouterr().err.strip() == expected
    assert not out.exists()


def test_a_failing_step_on_ray_is_its_own_one_line_error(tmp_path) -> None:
    """The step's `MedForgetError` comes back as itself (not Ray's traceback), after the steps it did
    not need have finished and before any step that needed it ran."""
    ray = pytest.importorskip("ray")
    from types import SimpleNamespace

    from medforget_data.errors import MedForgetError
    from medforget_data.pipeline.config import RunConfig
    from medforget_data.pipeline.executors import RayExecutor

    def worker(config, dataset_dir, run_dir, step, *needs):  # pickled by value into the workers
        if step.kind == "cell":
            raise MedForgetError(f"{step.name}: the method diverged")
        return step.name

    run = SimpleNamespace(config=RunConfig(), dataset=SimpleNamespace(folder=tmp_path), run_dir=tmp_path)
    finished: list[str] = []
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        with pytest.raises(MedForgetError) as raised:
            RayExecutor(None).run(
                run, plan_steps(("patient",), ("ga",)), lambda step: finished.append(step.name), worker
            )
    finally:
        ray.shutdown()
    assert str(raised.value) == "cell-patient-ga: the method diverged"
    assert finished == ["base", "model-vanilla", "model-oracle-patient", "reference-patient"]
