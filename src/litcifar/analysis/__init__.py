"""Looking at what a trained model gets wrong: predictions, Grad-CAM, figures."""

from litcifar.analysis.gradcam import CAM_METHODS, compute_gradcam, resolve_layer
from litcifar.analysis.predictions import Predictions, collect_predictions
from litcifar.analysis.wrong_predictions import AnalysisOptions, draw_wrong_predictions

__all__ = [
    "CAM_METHODS",
    "AnalysisOptions",
    "Predictions",
    "collect_predictions",
    "compute_gradcam",
    "draw_wrong_predictions",
    "resolve_layer",
]
