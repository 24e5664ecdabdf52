"""Advice on Lightning's `precision` setting for the device a fit runs on."""

from __future__ import annotations

# bf16 autocast trains about 20x slower than fp32 on the 2-core AMD EPYC CI machine
# (torch 2.14.1), a figure from the machine's notes that litcifar's benchmarks did not rerun.
REDUCED_PRECISIONS = ("bf16-mixed", "16-mixed", "bf16-true", "16-true", "bf16", "16")


def precision_advice(device_type: str, precision: str) -> str | None:
    """Return a warning when `precision` is a known slow choice on `device_type`, else None."""
    if device_type == "cpu" and str(precision) in REDUCED_PRECISIONS:
        return (
            f"precision {precision} on a CPU trains about 20x slower than 32-true on the CPUs litcifar was "
            "measured on; use --trainer.precision 32-true on a CPU, and bf16-mixed on a GPU"
        )
    return None
