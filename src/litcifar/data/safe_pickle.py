"""An unpickler for the official CIFAR-10 batches that can build only plain data.

The batches are Python 2 pickles of a dict holding bytes, lists of ints and one uint8
numpy array. Building that array needs three numpy callables; every other global a
pickle names is rejected, so a crafted batch cannot run code on load.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy < 2
    from numpy.core.multiarray import _reconstruct

# The only globals a batch may name; numpy 2 moved numpy.core to numpy._core, and
# pickles written by either spelling are accepted.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose `find_class` returns only ndarray-building callables."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: a CIFAR-10 batch holds only "
                "plain data and a numpy array"
            )
        return _ALLOWED_GLOBALS[(module, name)]


def safe_loads(payload: bytes) -> Any:
    """Unpickle a Python 2 CIFAR batch (bytes keys) with the restricted unpickler."""
    return RestrictedUnpickler(io.BytesIO(payload), encoding="bytes").load()
