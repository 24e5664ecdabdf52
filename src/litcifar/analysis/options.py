"""Settings of the analysis that `litcifar analyze` and the end of `litcifar fit` write."""

from __future__ import annotations

from dataclasses import dataclass

from litcifar.analysis.gradcam import CAM_METHODS
from litcifar.errors import InvalidSettingError

REQUIRED_FAITHFULNESS_METHODS = ("gradcam", "gradcam++", "layercam", "eigencam")


@dataclass
class AnalysisOptions:
    """Settings of the analysis of a trained model on the test set.

    Args:
        num_images: wrong predictions shown in the galleries, the most confident first.
        layer: layer whose activations Grad-CAM explains; default the model's last block
            (layer3 for custom_resnet, layer4 for resnet18). Dotted paths reach deeper.
        method: CAM method of the gallery: gradcam, gradcam++, layercam, eigencam,
            xgradcam or hirescam.
        columns: images per row of the galleries.
        image_weight: opacity of the image under the heatmap, in [0, 1]; the heatmap's
            opacity is 1 - image_weight.
        top_pairs: most frequent (true, predicted) confusions shown, each with a gallery.
        pair_images: images in each confused pair's gallery.
        faithfulness_images: test images (the first N) on which CAM faithfulness is measured.
        faithfulness_methods: CAM methods compared in the faithfulness figure.
        faithfulness_percents: percentages of the pixels removed, each in (0, 100).
        samples_per_class: training images per class in the dataset grid.
        augmented_images: training images shown through the training augmentation.
        augmented_copies: augmented copies drawn of each of them.
    """

    num_images: int = 20
    layer: str | None = None
    method: str = "gradcam"
    columns: int = 5
    image_weight: float = 0.5
    top_pairs: int = 6
    pair_images: int = 6
    faithfulness_images: int = 200
    faithfulness_methods: tuple[str, ...] = REQUIRED_FAITHFULNESS_METHODS
    faithfulness_percents: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0)
    samples_per_class: int = 8
    augmented_images: int = 4
    augmented_copies: int = 6

    def __post_init__(self) -> None:
        for name in ("num_images", "top_pairs", "pair_images", "faithfulness_images", "samples_per_class", "augmented_images", "augmented_copies"):
            if getattr(self, name) < 0:
                raise InvalidSettingError(f"analysis.{name} must be >= 0, got {getattr(self, name)}")
        if self.columns < 1:
            raise InvalidSettingError(f"analysis.columns must be >= 1, got {self.columns}")
        if self.method not in CAM_METHODS:
            raise InvalidSettingError(f"unknown analysis.method {self.method!r}: choose one of {', '.join(CAM_METHODS)}")
        unknown = [method for method in self.faithfulness_methods if method not in CAM_METHODS]
        if unknown:
            raise InvalidSettingError(f"unknown CAM method {unknown[0]!r} in analysis.faithfulness_methods: choose from {', '.join(CAM_METHODS)}")
        if not 0.0 <= self.image_weight <= 1.0:
            raise InvalidSettingError(f"analysis.image_weight must be in [0, 1], got {self.image_weight}")
        bad_percents = [p for p in self.faithfulness_percents if not 0 < p < 100]
        if bad_percents:
            raise InvalidSettingError(f"analysis.faithfulness_percents must each be in (0, 100), got {bad_percents[0]}")
        self.faithfulness_methods = tuple(self.faithfulness_methods)
        self.faithfulness_percents = tuple(float(p) for p in self.faithfulness_percents)
