"""What a layer's units do on a batch, from plain arrays: dead, saturated, how many distinct functions."""

import numpy as np

RELU_FAMILY = {"relu", "relu6"}


def distinct_units(kernel: np.ndarray, bias: np.ndarray, rtol: float = 1e-6) -> int:
    """How many different functions a layer's units compute: units whose incoming weights and bias agree
    within rtol times the layer's largest weight count once."""
    units = np.concatenate([kernel, bias.reshape(1, -1)], axis=0).T.astype(np.float64)
    tolerance = rtol * float(np.abs(units).max(initial=0.0))
    # Units within the tolerance of each other project within tolerance * sum|r| of each other on any r:
    # sorting by one projection leaves only near neighbours to compare (O(n log n) when all differ).
    r = np.random.default_rng(0).choice([-1.0, 1.0], size=units.shape[1])
    projection = units @ r
    window = tolerance * np.abs(r).sum()
    order = np.argsort(projection, kind="stable")
    representatives: list[int] = []
    for i in order:
        same = False
        for j in reversed(representatives):  # sorted: stop at the first one out of reach
            if projection[i] - projection[j] > window:
                break
            if np.abs(units[i] - units[j]).max() <= tolerance:
                same = True
                break
        if not same:
            representatives.append(i)
    return len(representatives)


def saturated_fraction(activation: str, a: np.ndarray) -> float:
    if activation == "tanh":
        return float(np.mean(np.abs(a) > 0.99))
    if activation == "sigmoid":
        return float(np.mean((a < 0.01) | (a > 0.99)))
    return 0.0


def dead_fraction(activation: str, a: np.ndarray) -> float:
    if activation not in RELU_FAMILY:
        return 0.0
    return float(np.mean(np.all(a == 0, axis=0)))
