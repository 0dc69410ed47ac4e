"""MedForget leaderboard Space: the table and plot, and an upload that is validated and scored offline.

The logic is in `medforget_data.leaderboard.space`; this file only lays it out. Settings come from the
environment: MEDFORGET_SPACE_RESULTS (a folder of results JSONs, e.g. a run's `results/`) and
MEDFORGET_SPACE_DATASET (the dataset folder those results were scored on; default: the cached
`full` build).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import gradio as gr

from medforget_data.constants import LEVELS
from medforget_data.errors import MedForgetError
from medforget_data.leaderboard.space import accept_submission, page, plot


def build_app(results_dir: Path, dataset_dir: Path) -> gr.Blocks:
    plot_dir = Path(tempfile.mkdtemp(prefix="medforget-space-"))
    counter = iter(range(1_000_000))

    def current_plot() -> str | None:
        path = plot(results_dir, plot_dir / f"forget_vs_retain_{next(counter)}.png")
        return str(path) if path else None

    def on_submit(upload, level: str):
        try:
            message = accept_submission(Path(upload) if upload else None, level, dataset_dir, results_dir)
        except MedForgetError as error:
            return gr.update(), f"error: {error}", gr.update()
        return page(results_dir), message, current_plot()

    with gr.Blocks(title="MedForget leaderboard") as app:
        gr.Markdown(
            "Upload a submission (JSONL: a metadata line, then one prediction per item of the level); "
            "it is validated and scored with the offline judge."
        )
        # callables: evaluated on every page load, so a reload shows what other visitors uploaded
        # the static page's own tables (ranking, references unranked, CIs), not a table of its own
        board = gr.HTML(value=lambda: page(results_dir), elem_id="leaderboard")
        figure = gr.Image(value=current_plot, label="forget vs retain", elem_id="plot")
        with gr.Row():
            upload = gr.File(label="submission (.jsonl)", elem_id="upload", type="filepath")
            level = gr.Dropdown(list(LEVELS), value=LEVELS[1], label="level", elem_id="level")
        button = gr.Button("Score submission", elem_id="score")
        status = gr.Markdown(elem_id="status")
        button.click(on_submit, [upload, level], [board, status, figure])
    return app


def settings_from_environment() -> tuple[Path, Path]:
    from medforget_data.dataset.load import local_dataset_dir

    results = Path(os.environ.get("MEDFORGET_SPACE_RESULTS", "results"))
    dataset = os.environ.get("MEDFORGET_SPACE_DATASET")
    return results, Path(dataset) if dataset else local_dataset_dir(size="full")


if __name__ == "__main__":
    build_app(*settings_from_environment()).launch()
