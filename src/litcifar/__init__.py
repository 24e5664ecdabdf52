"""litcifar: train CIFAR-10 classifiers with Lightning and show with Grad-CAM why they fail."""

__version__ = "0.1.0"
