"""Which epochs a run records: `record.every: auto` (every epoch early, then about 200 points log-spaced, dense early
where initialization matters) or an integer N (exactly every N); epoch 0 and the last always. No TensorFlow here."""

import numpy as np

EARLY = 20  # auto records every epoch up to this one
POINTS = 200  # auto records about this many epochs after epoch 0


def record_epochs(epochs: int, every: int | str = "auto") -> list[int]:
    """Epoch 0 (before any update), the epochs `every` asks for, and the last."""
    if every != "auto":
        return sorted({0, epochs, *range(every, epochs + 1, every)})
    if epochs <= POINTS:
        return list(range(epochs + 1))
    later, count = np.array([], int), POINTS - EARLY
    while len(later) < POINTS - EARLY:  # rounding merges neighbours at the dense end: ask for more until enough differ
        later = np.unique(np.round(np.geomspace(EARLY + 1, epochs, count)).astype(int))
        count += POINTS - EARLY - len(later)
    return list(range(EARLY + 1)) + later.tolist()


def describe_cadence(epochs: int, every: int | str = "auto") -> str:
    """One line for `initlab validate`: 'records: every epoch to 20, then 180 log-spaced to 3000, 201 in all'."""
    recorded = record_epochs(epochs, every)
    if every != "auto":
        return f"records: every {every} epochs, 0 and {epochs} included, {len(recorded)} in all"
    if epochs <= POINTS:
        return f"records: every epoch to {epochs}, {len(recorded)} in all"
    return (f"records: every epoch to {EARLY}, then {len(recorded) - EARLY - 1} log-spaced to {epochs}, "
            f"{len(recorded)} in all")
