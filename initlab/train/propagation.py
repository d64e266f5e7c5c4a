"""Signal propagation at initialization, measured beside the closed-form prediction, forward and backward.

Forward:  E[z_l^2] = fan_in * Var(W_l) * E[a_{l-1}^2] + E[b_l^2],  with E[a^2] = g(E[z^2]) for the activation
          (ReLU: E[z^2]/2; tanh: E[tanh(z)^2], about E[z^2] near zero; linear: E[z^2]); in mean-field terms
          q_l = sigma_w^2 E[phi(z)^2] + sigma_b^2 (sigma_w^2 = fan_in * Var(W)).
Backward: E[d_l^2] = E[f'(z_l)^2] * fan_out_l * Var(W_{l+1}) * E[d_{l+1}^2], d = dL/dz, with a unit-variance
          gradient injected at the output (ReLU: E[f'^2] = 1/2). fan_out_l is the next layer's width.
Depth scale (Schoenholz et al. 2017): the length q* and correlation c* fixed points of deep random nets, and
          xi_c = -1 / ln(sigma_w^2 E[phi'(u1) phi'(u2)]) at c* (in the ordered phase c* = 1: -1/ln(chi_1)), which
          diverges at the order-to-chaos transition chi_1 = sigma_w^2 E[phi'(z)^2] = 1.
"""

from __future__ import annotations  # pandas only where frames are made: runs imports this module to plan

from typing import TYPE_CHECKING

import numpy as np

from initlab.base.backend import tf as _tf

if TYPE_CHECKING:
    import pandas as pd


def gaussian_expectation(h, variance: float) -> float:
    """E[h(z)] for z ~ N(0, variance), on a grid fine against both the spread and tanh's unit scale
    (a saturated tanh's slope is a narrow spike that Gauss-Hermite nodes step over)."""
    if not np.isfinite(variance):  # after a layer the theory does not cover (elu, selu, ...)
        return float("nan")
    if variance <= 0:
        return float(h(np.zeros(1))[0])
    sigma = np.sqrt(variance)
    z = np.linspace(-12 * sigma, 12 * sigma, int(24 * sigma / min(sigma / 50, 0.02)) + 1)
    density = np.exp(-0.5 * (z / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    return float(np.trapezoid(h(z) * density, z))


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


_FORWARD = {  # E[f(z)^2] for z ~ N(0, v)
    "relu": lambda v: v / 2,
    "linear": lambda v: v,
    "tanh": lambda v: gaussian_expectation(lambda z: np.tanh(z) ** 2, v),
    "sigmoid": lambda v: gaussian_expectation(lambda z: _sigmoid(z) ** 2, v),
}
_BACKWARD = {  # E[f'(z)^2] for z ~ N(0, v)
    "relu": lambda v: 0.5,
    "linear": lambda v: 1.0,
    "tanh": lambda v: gaussian_expectation(lambda z: (1 - np.tanh(z) ** 2) ** 2, v),
    "sigmoid": lambda v: gaussian_expectation(lambda z: (_sigmoid(z) * (1 - _sigmoid(z))) ** 2, v),
}


def supported(activation: str) -> bool:
    return activation in _FORWARD


def mean_square_activation(activation: str, z_variance: float) -> float:
    """E[f(z)^2] for z ~ N(0, z_variance)."""
    return _FORWARD[activation](z_variance)


def mean_square_slope(activation: str, z_variance: float) -> float:
    """E[f'(z)^2] for z ~ N(0, z_variance)."""
    return _BACKWARD[activation](z_variance)


def signal_frame(model, x: np.ndarray, seed: int = 0) -> pd.DataFrame:
    """measure_rows as a frame."""
    import pandas as pd

    return pd.DataFrame(signal_rows(model, x, seed))


def signal_rows(model, x: np.ndarray, seed: int = 0) -> list[dict]:
    """Per Dense layer of a Keras model: see rows (dicts, no pandas: a run's process need not import it)."""
    from initlab.train.jacobian import dense_layers

    return rows(dense_layers(model), x, seed)


def rows(layers: list[tuple], x: np.ndarray, seed: int = 0) -> list[dict]:
    """Per layer (name, kernel, bias, activation name): measured E[z^2], E[a^2] and E[(dL/dz)^2] on inputs x,
    for L = sum(z_out * g) with g ~ N(0, 1) fixed, so the gradient entering the output has unit variance; with
    the input's E[x^2] and the theory's predictions (predicted)."""
    tf = _tf()
    from initlab.base.backend import keras

    x = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        zs, activations, a = [], [], x
        for _, kernel, bias, activation in layers:
            z = tf.matmul(a, tf.constant(kernel, tf.float32)) + tf.constant(bias, tf.float32)
            tape.watch(z)
            zs.append(z)
            a = keras().activations.get(activation)(z)
            activations.append(a)
        g = tf.random.stateless_normal(tf.shape(zs[-1]), seed=[seed, 1])
        loss = tf.reduce_sum(zs[-1] * g)
    deltas = tape.gradient(loss, zs)
    measured = []
    input_mean_square = float(np.mean(np.asarray(x, np.float64) ** 2))
    for (name, kernel, bias, activation), z, a, delta in zip(layers, zs, activations, deltas):
        kernel = np.asarray(kernel, np.float64)
        measured.append({
            "layer": name,
            "bias_mean_square": float(np.mean(np.asarray(bias, np.float64) ** 2)),
            "activation": activation,
            "fan_in": kernel.shape[0],
            "units": kernel.shape[1],
            "weight_var": float(kernel.var()),
            "z_mean_square": float(np.mean(z.numpy().astype(np.float64) ** 2)),
            "a_mean_square": float(np.mean(a.numpy().astype(np.float64) ** 2)),
            "grad_mean_square": float(np.mean(delta.numpy().astype(np.float64) ** 2)),
            "input_mean_square": input_mean_square,
        })
    return predicted(measured)


def predict(frame: pd.DataFrame) -> pd.DataFrame:
    """predicted, for a frame (signal.csv read back)."""
    import pandas as pd

    return pd.DataFrame(predicted(frame.to_dict("records")), index=frame.index)


def predicted(measured: list[dict]) -> list[dict]:
    """The rows with z_mean_square_predicted and grad_mean_square_predicted, each computed from the theory alone,
    layer by layer (forward from the input's E[x^2], backward from the unit-variance output gradient), with each
    layer's kernel variance as drawn."""
    out = [dict(row) for row in measured]
    forward, incoming = [], float(out[0]["input_mean_square"]) if out else 0.0
    for row in out:
        v = row["fan_in"] * row["weight_var"] * incoming + row.get("bias_mean_square", 0.0)  # older signal.csv: none
        forward.append(v)
        incoming = mean_square_activation(row["activation"], v) if supported(row["activation"]) else np.nan
        row["z_mean_square_predicted"] = v
    above = 1.0
    for i in reversed(range(len(out))):
        row = out[i]
        if i == len(out) - 1:
            backward = 1.0  # the injected gradient at the output's pre-activation
        else:
            nxt = out[i + 1]
            slope = mean_square_slope(row["activation"], forward[i]) if supported(row["activation"]) else np.nan
            backward = slope * nxt["units"] * nxt["weight_var"] * above
        row["grad_mean_square_predicted"] = above = backward
    return out


# ---- mean field: fixed points and the depth scale (Schoenholz, Gilmer, Ganguli and Sohl-Dickstein 2017) --------
_ACTIVATIONS = {"tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2), "linear": (lambda z: z, np.ones_like)}
LARGEST_LENGTH = 1e300  # a q* beyond this is no fixed point: the signal grows without bound


def length_fixed_point(activation: str, weight_var_n: float, bias_var: float, iterations: int = 500) -> float:
    """q* of q_l = sigma_w^2 E[phi(z)^2] + sigma_b^2, z ~ N(0, q_{l-1}): where the map iterated from q = 1 goes
    (inf where it grows without bound). Where the map touches the diagonal (tanh without bias at sigma_w^2 = 1,
    linear at 1, ReLU at 2) the iterates only creep towards it: the fixed point ahead of them is solved for."""
    def gap(q: float) -> float:
        return weight_var_n * mean_square_activation(activation, q) + bias_var - q

    q = 1.0
    for _ in range(iterations):
        step = gap(q)
        if abs(step) <= 1e-12 * q:
            return q + step
        if q + step > LARGEST_LENGTH:
            return float("inf")
        q += step
    from scipy import optimize  # the map is increasing: the fixed point the iterates approach lies ahead of them

    if step > 0:
        high = 2 * q
        while gap(high) >= 0:  # >=: past 1/eps a constant bias is lost to rounding
            if high > LARGEST_LENGTH:
                return float("inf")
            high *= 2
        return optimize.brentq(gap, q, high, xtol=1e-300, rtol=1e-14)
    low = 1e-12 * q  # the map is at or above the diagonal at 0 (a variance); a fixed point above 0 comes first
    if gap(low) > 0:
        return optimize.brentq(gap, low, q, xtol=1e-300, rtol=1e-14)
    return optimize.brentq(gap, 0.0, low, xtol=1e-300, rtol=1e-14) if gap(0.0) > 0 else 0.0


def _pair_mean(h1, h2, q: float, c: float) -> float:
    """E[h1(u1) h2(u2)] for u1, u2 ~ N(0, q) with correlation c: the trapezoid rule on a grid of standard normal
    z1, z2 (u1 = sqrt(q) z1), fine against both the normal's unit scale and tanh's (its poles at +-i pi/2 set the
    step in u), which makes it exact to rounding, as gaussian_expectation is."""
    step = min(0.2, 0.2 / np.sqrt(q)) if q > 0 else 0.2
    z = np.linspace(-10, 10, 2 * int(np.ceil(10 / step)) + 1)
    weights = np.exp(-0.5 * z**2) * (z[1] - z[0]) / np.sqrt(2 * np.pi)
    z1, z2 = z[:, None], z[None, :]
    u1 = np.sqrt(q) * z1
    u2 = np.sqrt(q) * (c * z1 + np.sqrt(max(1 - c * c, 0.0)) * z2)
    return float(weights @ (h1(u1) * h2(u2)) @ weights)


def _correlation_fixed_point(activation: str, weight_var_n: float, bias_var: float, q: float) -> float:
    """c* < 1 in the chaotic phase (chi_1 > 1), where c = 1 is an unstable fixed point of the correlation map
    c -> (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q*. The map is increasing and convex on [0, 1] (Poole et al.
    2016), so c* is its one other crossing of the diagonal: bracketed and solved (near the order-to-chaos line
    iterates converge too slowly)."""
    from scipy import optimize

    phi, _ = _ACTIVATIONS[activation]

    def gap(c: float) -> float:
        return (weight_var_n * _pair_mean(phi, phi, q, c) + bias_var) / q - c

    if gap(0.0) <= 0:
        return 0.0  # no bias: uncorrelated inputs stay uncorrelated
    low = 0.0
    for k in range(1, 41):  # 1 - 2^-k: the map falls below the diagonal just short of c = 1
        high = 1 - 2.0**-k
        if gap(high) < 0:
            return optimize.brentq(gap, low, high, xtol=1e-15, rtol=1e-15)
        low = high
    return 1.0  # c* closer to 1 than the quadrature can tell


def depth_scale(activation: str, weight_var_n: float, bias_var: float) -> dict:
    """{q*, c*, chi_1, xi_c} for a deep random net of `activation` (tanh or linear) with fan_in * Var(W) =
    weight_var_n and Var(b) = bias_var: c* the fixed point of the correlation map
    c -> (sigma_w^2 E[phi(u1) phi(u2)] + sigma_b^2) / q* that nearby inputs go to (1 in the ordered phase), and
    xi_c = -1 / ln(sigma_w^2 E[phi'(u1) phi'(u2)]) there. Without a finite q* (a linear net whose signal grows
    without bound) the rest is NaN."""
    slope = _ACTIVATIONS[activation][1]
    q = length_fixed_point(activation, weight_var_n, bias_var)
    if not np.isfinite(q):
        return {"q_star": q, "c_star": float("nan"), "chi_1": float("nan"), "xi_c": float("nan")}
    chi_1 = weight_var_n * _pair_mean(slope, slope, q, 1.0)
    c = _correlation_fixed_point(activation, weight_var_n, bias_var, q) if chi_1 > 1 and q > 0 else 1.0
    chi_c = weight_var_n * _pair_mean(slope, slope, q, c)
    xi = float("inf") if abs(np.log(chi_c)) < 1e-12 else -1.0 / np.log(chi_c)
    return {"q_star": q, "c_star": float(c), "chi_1": chi_1, "xi_c": abs(float(xi))}


def critical_weight_var(activation: str, bias_var: float, low: float = 0.1, high: float = 10.0) -> float:
    """The sigma_w^2 on the order-to-chaos line, where chi_1 = 1 (xi_c diverges there), found by bisection:
    chi_1 grows with sigma_w^2 for tanh."""
    for _ in range(60):
        middle = (low + high) / 2
        if depth_scale(activation, middle, bias_var)["chi_1"] < 1:
            low = middle
        else:
            high = middle
    return (low + high) / 2
