"""Looking at what a trained model gets wrong: predictions, confusion, Grad-CAM, figures, report."""

from litcifar.analysis.gradcam import CAM_METHODS, compute_gradcam, resolve_layer
from litcifar.analysis.options import AnalysisOptions
from litcifar.analysis.predictions import Mistakes, Predictions, collect_predictions, count_correct, incorrect_predictions
from litcifar.analysis.run_analysis import write_analysis

__all__ = [
    "CAM_METHODS",
    "AnalysisOptions",
    "Mistakes",
    "Predictions",
    "collect_predictions",
    "compute_gradcam",
    "count_correct",
    "incorrect_predictions",
    "resolve_layer",
    "write_analysis",
]
