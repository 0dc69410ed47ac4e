"""The metric's Space: evaluate's standard widget (Space SDK gradio 3, as evaluate's own metric Spaces)."""

import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("medforget_metric")
launch_gradio_widget(module)
