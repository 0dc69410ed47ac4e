"""The benchmark run: vanilla, then per level its oracle and per method unlearn → generate → score → attack.

Every stage has a key (the sha256 of what determines its output) and a done-marker written last,
so a rerun skips finished stages, resumes an interrupted fine-tuning from its epoch checkpoint and
redoes at most the cell that was in progress. The leaderboard is rewritten after every level, so
a run stopped early shows the levels it finished. Unlearned models live in memory only: a cell's
lasting output is its submission and its results JSON.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from medforget_data import progress
from medforget_data.attacks.model_attacks import attack
from medforget_data.constants import CHECKPOINT_DIR, REFERENCE_METHODS
from medforget_data.dataset.built import BuiltDataset
from medforget_data.io import write_model
from medforget_data.leaderboard.table import write_leaderboard
from medforget_data.methods import get_method, make_config
from medforget_data.methods.apply import Unlearned, apply_method, unlearned_record
from medforget_data.methods.base import StrengthGrid, load_unlearn_splits
from medforget_data.models.build import MODEL_CARD_FILE, ModelRecord, checkpoint_hash, load_model
from medforget_data.models.distributed import finetune_in_processes
from medforget_data.models.finetune import finetune
from medforget_data.models.generate import level_answers
from medforget_data.models.pretrain import pretrain_base
from medforget_data.models.recipe import resolve_recipe
from medforget_data.models.train import precision_dtype
from medforget_data.pipeline.config import RunConfig, RunRecord
from medforget_data.pipeline.executors import LocalExecutor, RayExecutor
from medforget_data.pipeline.layout import RunLayout, Stage
from medforget_data.pipeline.plan import Step, plan_steps
from medforget_data.pipeline.state import RunState, RunTimings, StageKey, run_lock, stage_key
from medforget_data.pipeline.sweep import SELECTION_UTILITY_ITEMS, raw_scores, selection_set, sweep
from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.results import Results, read_results, write_results
from medforget_data.scoring.score import with_utility
from medforget_data.scoring.score_file import score_submission
from medforget_data.scoring.selection import SweepRecord
from medforget_data.scoring.submission import Submission, SubmissionMetadata, write_submission

# Bumped when what a key hashes changes meaning: every stage of an older run folder is then redone
# (its markers say so in one line), instead of fields being dropped to keep old hashes.
KEY_VERSION = 3  # 3: dataset format 4, the sweep


class BenchmarkRun:
    def __init__(self, config: RunConfig, dataset: BuiltDataset | Path, run_dir: Path) -> None:
        self.config, self.dataset = config, BuiltDataset.of(dataset)
        self.layout = RunLayout(run_dir)
        self.state = RunState(self.layout)
        self.dtype = precision_dtype(config.precision)
        name = config.pretrained()
        self.base = pretrain_base(name, self.dataset.manifest.build, device=config.device) if name else None
        checkpoint = self.base.folder if self.base else config.checkpoint()
        self.recipe = resolve_recipe(
            checkpoint or config.model,
            config.recipe_options(),
            checkpoint_hash=checkpoint_hash(checkpoint) if checkpoint is not None else None,
        )
        self.oracle_forget: dict[str, float] = {}  # per level: the oracle's teacher-forced forget score
        # Every model's key at set-up: a cell's key names the models it starts from.
        self.model_keys: dict[str | None, StageKey] = {
            level: self.model_key(level) for level in (None, *config.levels)
        }

    @property
    def run_dir(self) -> Path:
        return self.layout.root

    # ----- models
    def record_base(self) -> None:
        """The base's own line in the timings: what pretraining it cost when this run built it (a base
        found in the user cache costs a run nothing: it is paid once per machine)."""
        if self.base is None:
            return
        stage, key = Stage.base(), stage_key({"version": KEY_VERSION, "base": self.recipe.checkpoint_hash})
        if not self.state.is_done(stage, key):
            self.state.mark(stage, key, done=True, seconds={"pretrain": self.base.seconds})

    def load(self, oracle_level: str | None):
        """A trained model of this run, on the run's device in the run's precision."""
        folder = self.layout.model_dir(Stage.model(oracle_level))
        return load_model(folder, device=self.config.device, dtype=self.dtype)

    def model_key(self, oracle_level: str | None) -> StageKey:
        processes = self.config.training_processes
        return stage_key(
            {
                "version": KEY_VERSION,
                "dataset": self.dataset.dataset_hash,
                "recipe": self.recipe.identity(),
                "oracle_level": oracle_level,
                # one process keeps the payload (and every existing run's key) as it was
                **({"processes": processes} if processes > 1 else {}),
            }
        )

    def trained_model(self, oracle_level: str | None) -> Path:
        """The vanilla model, or the retrain oracle of a level; trained once, resumed if interrupted."""
        stage, key = Stage.model(oracle_level), self.model_keys[oracle_level]
        folder = self.layout.model_dir(stage)
        if self.state.is_done(stage, key) and (folder / MODEL_CARD_FILE).is_file():
            return folder
        resume = self.state.started_with(stage, key) and (folder / CHECKPOINT_DIR).is_dir()
        why = self.state.why_redone(stage, key)
        if why is not None:
            progress.note(why)
        if folder.exists() and not resume:
            shutil.rmtree(folder)  # another recipe's leftovers
        self.state.mark(stage, key, done=False)
        processes = self.config.training_processes
        if processes > 1:  # one step still: the processes are this training's (models/distributed.py)
            record = finetune_in_processes(
                self.dataset, folder, self.recipe, processes, oracle_level, resume, self.config.device
            )
        else:
            record = finetune(
                self.dataset,
                folder,
                self.recipe,
                oracle_level=oracle_level,
                resume=resume,
                device=self.config.device,
            )
        shutil.rmtree(folder / CHECKPOINT_DIR, ignore_errors=True)  # optimizer state only served resume
        self.state.mark(stage, key, done=True, seconds={"train": record.recipe.wall_seconds or 0.0})
        return folder

    # ----- cells: a cell is a function from its models and reference results to a `Results` value
    def method_overrides(self, method: str) -> dict:
        """The run's seed; from a LoRA-tuned checkpoint, loss-based methods train adapters of its rank."""
        lora = self.recipe.lora
        adapters = lora is not None and "lora_rank" in get_method(method).config_class.model_fields
        return {"seed": self.config.seed, **({"lora_rank": lora.rank} if adapters else {})}

    def method_config_overrides(self, method: str) -> dict:
        """The run's overrides of `method`'s config, then the user's (`--method-config`)."""
        return {**self.method_overrides(method), **self.config.settings_of(method).config}

    def sweep_grid(self, method: str) -> StrengthGrid | None:
        """The grid a method cell sweeps (None: the method runs once, at its config)."""
        if method in REFERENCE_METHODS or self.config.sweep == "none":
            return None
        return self.config.settings_of(method).grid or get_method(method).grid

    def cell_key(self, level: str, method: str) -> StageKey:
        config = make_config(method, self.method_config_overrides(method)) if method != "oracle" else None
        grid = self.sweep_grid(method)
        sweep = None
        if grid is not None:
            sweep = {
                "grid": grid.model_dump(mode="json"),
                "floor": self.config.utility_floor,
                "utility_items": SELECTION_UTILITY_ITEMS,
            }
        return stage_key(
            {
                "version": KEY_VERSION,
                "dataset": self.dataset.dataset_hash,
                "vanilla": self.model_keys[None].key,
                "oracle": self.model_keys[level].key,
                "method": method,
                "config": config.model_dump(mode="json") if config else None,
                "sweep": sweep,
                "generation": {
                    "batch_size": self.config.batch_size,
                    "max_new_tokens": self.config.max_new_tokens,
                },
                "judge": OfflineJudge.version,
                "seed": self.config.seed,
            }
        )

    def answer_and_score(
        self, level: str, method: str, model, processor, record: ModelRecord, reference: Results | None
    ) -> tuple[Results, dict[str, float]]:
        """The level's answers (kept as a submission file: the cell's answer sheet), their scores in
        memory, and their seconds. Utility is against `reference` (vanilla's results); None: the
        model is vanilla, its own reference."""
        metadata = SubmissionMetadata(
            method=method,
            model=record.config_name,
            level=level,
            seed=self.config.seed,
            contact="medforget run",
        )
        began = time.perf_counter()
        answers = level_answers(
            model.to(self.config.device),
            processor,
            self.dataset,
            level,
            batch_size=self.config.batch_size,
            max_new_tokens=self.config.max_new_tokens,
        )
        path = self.layout.submission(level, method)
        write_submission(path, metadata, answers)
        generated = time.perf_counter()
        submission = Submission(
            metadata=metadata, predictions=answers, lines={item: n for n, item in enumerate(answers, start=2)}
        )
        results = score_submission(
            submission, level, self.dataset, OfflineJudge(), reference, seed=self.config.seed, source=path
        )
        if reference is None:
            results = with_utility(results, results)
        return results, {"generate": generated - began, "score": time.perf_counter() - generated}

    def with_attacks(
        self,
        level: str,
        results: Results,
        seconds: dict[str, float],
        model,
        processor,
        record: ModelRecord,
        oracle: Results | None,
    ) -> Results:
        """`results` with the attacks on `model` (forget quality against `oracle`) and the stage times."""
        began = time.perf_counter()
        attacks = attack(model, processor, record, self.dataset, level, results, oracle)
        timings = {**seconds, "attack": time.perf_counter() - began}
        return results.model_copy(update={"attacks": attacks, "timings": timings})

    def cell(
        self,
        level: str,
        method: str,
        model,
        processor,
        record: ModelRecord,
        unlearn_seconds: float,
        reference: Results,
        oracle: Results | None,
    ) -> Results:
        """One table cell: answers, scores against vanilla's `reference`, attacks against `oracle`."""
        results, seconds = self.answer_and_score(level, method, model, processor, record, reference)
        seconds = {"unlearn": unlearn_seconds, **seconds}
        return self.with_attacks(level, results, seconds, model, processor, record, oracle)

    def finish(self, level: str, method: str, results: Results, key: StageKey) -> None:
        """The cell's one write of its results, then its done-marker."""
        write_results(self.layout.results(level, method), results)
        self.state.mark(Stage.cell(level, method), key, done=True, seconds=results.timings)

    def reference_cells(self, level: str) -> None:
        """Vanilla's scores (every utility's reference), then the oracle's cell, then vanilla's attacks."""
        vanilla_key, oracle_key = self.cell_key(level, "vanilla"), self.cell_key(level, "oracle")
        vanilla_done = self.state.is_done(Stage.cell(level, "vanilla"), vanilla_key)
        oracle_done = self.state.is_done(Stage.cell(level, "oracle"), oracle_key)
        if vanilla_done and oracle_done:
            return
        vanilla, processor, vanilla_record = self.load(None)
        scored, seconds = self.answer_and_score(level, "vanilla", vanilla, processor, vanilla_record, None)
        if oracle_done:
            oracle_results = read_results(self.layout.results(level, "oracle"))
        else:
            oracle, oracle_processor, oracle_record = self.load(level)
            trained = self.state.read(Stage.model(level))
            train_seconds = trained.seconds.get("train", 0.0) if trained else 0.0
            oracle_results = self.cell(
                level, "oracle", oracle, oracle_processor, oracle_record, train_seconds, scored, None
            )
            self.finish(level, "oracle", oracle_results, oracle_key)
        vanilla_results = self.with_attacks(
            level, scored, {"unlearn": 0.0, **seconds}, vanilla, processor, vanilla_record, oracle_results
        )
        self.finish(level, "vanilla", vanilla_results, vanilla_key)

    def method_cell(self, level: str, method: str) -> None:
        key = self.cell_key(level, method)
        stage = Stage.cell(level, method)
        if self.state.is_done(stage, key) and self.layout.results(level, method).is_file():
            return
        model, processor, record = self.load(None)
        overrides = self.method_config_overrides(method)
        grid = self.sweep_grid(method)
        swept = None
        if grid is None:
            config = make_config(method, overrides)
            unlearned = apply_method(method, model, processor, record, self.dataset, level, config)
        else:
            unlearned, swept = self.swept(level, method, model, processor, record, overrides, grid)
        results = self.cell(
            level,
            method,
            unlearned.model,
            processor,
            unlearned.record,
            unlearned.wall_seconds,
            read_results(self.layout.results(level, "vanilla")),
            read_results(self.layout.results(level, "oracle")),
        )
        if swept is not None:
            results = results.model_copy(update={"sweep": swept})
        self.finish(level, method, results, key)

    def swept(
        self,
        level: str,
        method: str,
        model,
        processor,
        record: ModelRecord,
        overrides: dict,
        grid: StrengthGrid,
    ) -> tuple[Unlearned, SweepRecord]:
        """The method's sweep on the unlearner's view: the model at its chosen point, and the record.
        The oracle's forget score (the same teacher-forced measure) is read for the oracle-match rule."""
        splits = load_unlearn_splits(self.dataset, level)
        if level not in self.oracle_forget:  # once per level: every method's oracle-match reads it
            oracle, oracle_processor, _ = self.load(level)
            selection = selection_set(splits, self.config.seed)
            forget = raw_scores(oracle, oracle_processor, selection, self.config.batch_size).forget
            self.oracle_forget[level] = sum(forget) / max(1, len(forget))
        began = time.perf_counter()
        chosen, swept = sweep(
            method,
            model,
            processor,
            splits,
            overrides,
            floor=self.config.utility_floor,
            oracle_forget=self.oracle_forget[level],
            grid=grid,
            batch_size=self.config.batch_size,
        )
        wall = time.perf_counter() - began
        return Unlearned(chosen, unlearned_record(record, self.dataset, method, level, chosen), wall), swept

    # ----- the whole run
    def stage_seconds(self) -> dict[str, float]:
        """Seconds per kind of stage, summed over this run's finished stages (as first computed)."""
        totals: dict[str, float] = {}
        for record in self.state.finished():
            for kind, value in record.seconds.items():
                kind = "train" if record.stage.kind == "model" else kind
                if record.stage.method == "oracle" and kind == "unlearn":
                    continue  # the oracle's "unlearning" is its training, counted once under train
                totals[kind] = totals.get(kind, 0.0) + value
        return totals

    def timing_summary(self) -> str:
        totals = self.stage_seconds()
        parts = [f"{kind} {seconds / 60:.1f} min" for kind, seconds in totals.items()]
        return f"stage times (compute, summed): {', '.join(parts)}; total {sum(totals.values()) / 60:.1f} min"

    def run_step(self, step: Step) -> None:
        """One step of the plan; whichever executor calls it, it writes only through the layout."""
        if step.kind == "base":
            self.record_base()
        elif step.kind == "model":
            self.trained_model(step.level)
        elif step.kind == "reference":
            self.reference_cells(step.level)
        elif step.kind == "cell":
            self.method_cell(step.level, step.method)
        else:  # the leaderboard over every level up to this one, in the run's order
            levels = self.config.levels[: self.config.levels.index(step.level) + 1]
            cells = [(level, method) for level in levels for method in self.config.cell_methods()]
            write_leaderboard(
                [self.layout.results(level, method) for level, method in cells], self.layout.leaderboard
            )

    def steps(self) -> list[Step]:
        return plan_steps(self.config.levels, self.config.methods)

    def run(self, executor: LocalExecutor | RayExecutor | None = None) -> Path:
        with run_lock(self.run_dir):
            return self._run(executor or LocalExecutor())

    def _run(self, executor: LocalExecutor | RayExecutor) -> Path:
        record = RunRecord(
            config=self.config,
            recipe=self.recipe,
            dataset_dir=str(self.dataset.folder),
            dataset_hash=self.dataset.dataset_hash,
        )
        write_model(self.layout.run_record, record)
        steps = self.steps()
        with progress.bar(total=len(steps), desc="benchmark", unit="step") as overall:

            def done(step: Step) -> None:
                overall.set_postfix_str(step.name)
                overall.update()

            executor.run(self, steps, done, run_step_in_worker)
        timings = RunTimings(
            stages={record.stage.name: record.seconds for record in self.state.finished()},
            totals=self.stage_seconds(),
        )
        write_model(self.layout.timings, timings)
        return self.layout.leaderboard


# ----- in a Ray worker: the run is rebuilt from its config (cached per worker process, which Ray reuses)
_worker_runs: dict[tuple[str, str, str], BenchmarkRun] = {}


def run_step_in_worker(config: RunConfig, dataset_dir: Path, run_dir: Path, step: Step, *needs: str) -> str:
    """One step in a worker process; `needs` are the finished steps' names (Ray passes them once done)."""
    key = (config.model_dump_json(), str(dataset_dir), str(run_dir))
    with progress.quiet():  # the driver's bar counts finished steps
        if key not in _worker_runs:
            _worker_runs[key] = BenchmarkRun(config, dataset_dir, run_dir)
        _worker_runs[key].run_step(step)
    return step.name
