"""report.html: one self-contained page (images embedded as base64) with everything a run produced."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

# (file, section title, caption), in reading order; files missing from the folder are left out.
SECTIONS = (
    ("curves.png", "Loss and accuracy", "Per epoch, train against validation."),
    ("lr_find.png", "LR range test", "Smoothed loss against the learning rate; the chosen max_lr is marked."),
    ("per_class_accuracy.png", "Accuracy per class", "Test accuracy of each class; the dashed line is the overall accuracy."),
    ("confusion_matrix.png", "Confusion matrix", "Counts of test images: rows are the true class, columns the prediction."),
    ("confusion_matrix_normalized.png", "Confusion matrix, row-normalised", "Each row is the distribution of predictions for one true class."),
    ("confused_pairs.png", "Most frequent confusions", "The most common (true → predicted) mistakes, each with its most confident examples."),
    ("misclassified.png", "Misclassified test images", "Wrong predictions, most confident first: true class, prediction, confidence."),
    ("gradcam.png", "Grad-CAM: predicted against true class", "For each mistake: the image, where the model found evidence for its prediction, and where it found evidence for the true class."),
    ("faithfulness.png", "Faithfulness of the heatmaps", "Drop in the predicted class's probability when the top-ranked pixels are replaced by the mean colour. A method on or below the random-blob line explains nothing."),
    ("class_samples.png", "Training images", "Random training images of each class."),
    ("augmentation.png", "Training augmentation", "The same images drawn several times through the training augmentation."),
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
img { max-width: 100%; height: auto; display: block; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
pre { background: #f6f6f6; padding: 1em; overflow-x: auto; font-size: 0.85em; }
figcaption { color: #555; font-size: 0.9em; margin-top: 0.3em; }
"""


def _table(rows: dict[str, Any]) -> str:
    cells = "".join(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(_format(value))}</td></tr>" for key, value in rows.items())
    return f"<table>{cells}</table>"


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _figure(path: Path, caption: str) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(caption, quote=True)
    return f'<figure><img src="data:image/png;base64,{encoded}" alt="{alt}"><figcaption>{html.escape(caption)}</figcaption></figure>'


def render_report(folder: Path, analysis: dict[str, Any], metrics: dict | None, config_text: str | None) -> str:
    """Return the report page for the figures in `folder` and the given records."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', "<title>litcifar report</title>", f"<style>{STYLE}</style></head><body>"]
    parts.append("<h1>litcifar report</h1>")
    summary = {
        "test accuracy": f"{analysis['test_acc']:.2%}",
        "wrong predictions": f"{analysis['misclassified_count']} of {analysis['test_images']}",
        "CAM": f"{analysis['cam']['method']} on {analysis['cam']['layer']}",
    }
    parts.append(_table(summary))
    if metrics:
        parts.append("<h2>Run metrics</h2>")
        parts.append(_table(metrics))
    if analysis.get("top_confused_pairs"):
        parts.append("<h2>Top confused pairs</h2>")
        rows = {f"{p['true']} → {p['predicted']}": f"{p['count']} images ({p['share_of_true_class']:.1%} of {p['true']})" for p in analysis["top_confused_pairs"]}
        parts.append(_table(rows))
    for name, title, caption in SECTIONS:
        path = folder / name
        if path.is_file():
            parts.append(f"<h2>{html.escape(title)}</h2>")
            parts.append(_figure(path, caption))
    if config_text:
        parts.append("<h2>Configuration</h2>")
        parts.append(f"<pre>{html.escape(config_text)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(folder: Path, analysis: dict[str, Any], metrics: dict | None = None, config_text: str | None = None) -> Path:
    """Write `folder`/report.html and return its path."""
    path = Path(folder) / "report.html"
    path.write_text(render_report(Path(folder), analysis, metrics, config_text), encoding="utf-8")
    return path
