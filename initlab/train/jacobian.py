"""The input-output Jacobian's spectrum at initialization (dynamical isometry: Pennington, Schoenholz and Ganguli 2017).

For each probe row x, J = d output / d x (the output before its softmax or sigmoid: the logits) and the squared
singular values of J, the eigenvalues of J J^T, pooled over the rows. Exactly (batch_jacobian, then an SVD) where
J fits, or by stochastic Lanczos quadrature (Ubaru, Chen and Saad 2017): Lanczos on J J^T (or J^T J, the smaller
side) from random +-1 start vectors, one JVP and one VJP per step, whose Ritz values and weights give the spectrum's
mean and variance (Hutchinson's trace estimates), its top (fast to converge), an upper bound on its bottom, and its
spread. Summaries follow the paper: the mean of the squared singular values (its m_1), their variance (sigma^2 of
J J^T) and the largest, beside the smallest, the fraction at zero (rank lost, as ReLU loses it) and the std of their
log (a spread that ignores the overall scale)."""

import numpy as np

from initlab.base.backend import keras as _keras, tf as _tf

JACOBIAN_ROWS = 32  # the first rows of a run's probe batch whose Jacobian a run records
NOT_ELEMENTWISE = {"softmax", "log_softmax", "glu", "sparsemax"}  # activations whose Jacobian is not diagonal
BREAKDOWN = 1e-10  # a Lanczos step whose residual is this small against the operator's scale found an invariant subspace
SUMMARY = ["rows", "count", "mean", "variance", "max", "min", "zero_fraction", "log_std"]


def squared_singular_values(jacobians: np.ndarray, eps: float = np.finfo(np.float64).eps) -> np.ndarray:
    """[rows, m, n] -> [rows, min(m, n)]: each row's squared singular values, largest first; those below the
    numerical rank's tolerance (s_max * max(m, n) * eps, as numpy's matrix_rank) set to exactly 0."""
    s = np.linalg.svd(np.asarray(jacobians, np.float64), compute_uv=False)
    tolerance = s[:, :1] * max(jacobians.shape[1:]) * eps
    return np.where(s > tolerance, s, 0.0) ** 2


def summary(values: np.ndarray) -> dict:
    """The spectrum's summaries, pooled over rows ([rows, k] squared singular values)."""
    values = np.asarray(values, np.float64)
    flat = values.ravel()
    nonzero = flat[flat > 0]
    return {"rows": int(values.shape[0]), "count": int(flat.size), "mean": float(flat.mean()),
            "variance": float(flat.var()), "max": float(flat.max()), "min": float(flat.min()),
            "zero_fraction": float(np.mean(flat == 0)),
            "log_std": float(np.log(nonzero).std()) if nonzero.size else float("nan")}


def exact(fn, x) -> np.ndarray:
    """[rows, min(m, n)]: the squared singular values of fn's Jacobian at each row of x (fn maps [rows, ...] to
    [rows, ...], rows independent)."""
    tf = _tf()
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    rows = int(x.shape[0])
    j = tf.reshape(tape.batch_jacobian(y, x), [rows, -1, int(np.prod(x.shape[1:]))])
    return squared_singular_values(j.numpy(), float(np.finfo(x.dtype.as_numpy_dtype).eps))


def layer_spectra(layers: list[tuple], x: np.ndarray, at: set[str] | None = None) -> dict[str, np.ndarray]:
    """The lab's MLP, per layer (name, kernel, bias, activation): the squared singular values [rows, k] of the
    Jacobian of its pre-activation (the output layer's: the logits) with respect to the input, at each row of x;
    chained layer by layer in float64, J_l = W_l^T D_{l-1} J_{l-1}, D the activation's own Jacobian. `at`: only
    these layers' (the chain still runs through every layer)."""
    tf, keras = _tf(), _keras()
    a = tf.constant(np.asarray(x, np.float64))
    rows, n = a.shape
    jacobian = tf.eye(n, batch_shape=[rows], dtype=tf.float64)  # d a / d x, [rows, width, n]
    spectra = {}
    for i, (name, kernel, bias, activation) in enumerate(layers):
        kernel = tf.constant(np.asarray(kernel, np.float64))
        z = a @ kernel + np.asarray(bias, np.float64)
        jacobian = tf.einsum("io,bin->bon", kernel, jacobian)
        if at is None or name in at:
            spectra[name] = squared_singular_values(jacobian.numpy())
        if i == len(layers) - 1:
            break  # the logits: the output's activation is not part of the measured Jacobian
        with tf.GradientTape(persistent=activation in NOT_ELEMENTWISE) as tape:
            tape.watch(z)
            a = keras.activations.get(activation)(z)
        if activation in NOT_ELEMENTWISE:
            jacobian = tape.batch_jacobian(a, z) @ jacobian
        else:
            jacobian = tape.gradient(a, z)[:, :, None] * jacobian  # an elementwise activation: its slopes
    return spectra


def dense_layers(model) -> list[tuple]:
    """(name, kernel, bias, activation name) of each layer of the lab's MLP (a Sequential of Dense layers)."""
    return [(layer.name, layer.kernel.numpy(), layer.bias.numpy(), layer.activation.__name__) for layer in model.layers]


def recorded(config, layers: list[tuple], x: np.ndarray) -> dict[str, np.ndarray] | None:
    """What a run records (record.jacobian): layer_spectra on the first JACOBIAN_ROWS rows of its probe batch x."""
    return layer_spectra(layers, x[:JACOBIAN_ROWS]) if config.record.jacobian else None


def rows(spectra: dict[str, np.ndarray]) -> list[dict]:
    """jacobian.csv's rows: each layer's summary."""
    return [{"layer": name, **summary(values)} for name, values in spectra.items()]


def estimate(fn, x, starts: int = 8, steps: int = 32, traces: int = 8, seed: int = 0, per_call: int | None = None
             ) -> dict:
    """summary()'s figures by stochastic Lanczos quadrature on each row of x: `starts` random +-1 vectors a row,
    `steps` Lanczos steps each (with full reorthogonalization; `steps` >= the side's size gives exact Ritz values);
    the mean and variance from `traces` times as many +-1 vectors by Hutchinson's estimates of trace(A) and trace(A^2)
    for A = J J^T (a VJP gives J^T u, whose squared length has mean trace(A); a JVP then A u). The chains
    (a row and a start vector each) run `per_call` at a time (all at once by default): memory for that many rows."""
    tf = _tf()
    x = tf.convert_to_tensor(x)
    rows, n = int(x.shape[0]), int(np.prod(x.shape[1:]))
    m = int(np.prod(fn(x[:1]).shape[1:]))
    k = min(m, n)
    copies = tf.repeat(x, starts, axis=0)  # every start vector walks its own copy of its row
    per_call = per_call or int(copies.shape[0])

    @tf.function(autograph=False)
    def jvp(batch, v):
        with tf.autodiff.ForwardAccumulator(batch, tf.reshape(v, tf.shape(batch))) as acc:
            y = fn(batch)
        return tf.reshape(acc.jvp(y), [tf.shape(batch)[0], -1])

    @tf.function(autograph=False)
    def vjp(batch, u):
        with tf.GradientTape() as tape:
            tape.watch(batch)
            y = fn(batch)
        return tf.reshape(tape.gradient(y, batch, output_gradients=tf.reshape(tf.cast(u, y.dtype), tf.shape(y))),
                          [tf.shape(batch)[0], -1])

    inner, outer = (vjp, jvp) if k == m else (jvp, vjp)  # J J^T on the output's side when it is the smaller
    rng = np.random.default_rng(seed)
    mean, second, ritz_weights = [], [], []
    for first in range(0, int(copies.shape[0]), per_call):
        batch = copies[first : first + per_call]
        half = lambda v, batch=batch: inner(batch, tf.constant(v, batch.dtype))  # noqa: E731
        sign = lambda: rng.choice([-1.0, 1.0], size=(int(batch.shape[0]), k))  # noqa: E731
        for _ in range(traces):  # Hutchinson: E ||J^T u||^2 = trace(J J^T), E ||J J^T u||^2 = trace((J J^T)^2)
            inside = half(sign())
            mean.append(np.sum(inside.numpy().astype(np.float64) ** 2, axis=1) / k)
            second.append(np.sum(outer(batch, inside).numpy().astype(np.float64) ** 2, axis=1) / k)
        ritz_weights += lanczos(lambda v, batch=batch, half=half: outer(batch, half(v)).numpy().astype(np.float64),
                                sign() / np.sqrt(k), min(steps, k))
    mean, second = np.mean(np.concatenate(mean)), np.mean(np.concatenate(second))
    top = max(ritz.max() for ritz, _ in ritz_weights)
    tolerance = top * max(m, n) * float(np.finfo(x.dtype.as_numpy_dtype).eps)  # below: the products' rounding
    moments = []
    for ritz, weights in ritz_weights:
        alive = ritz > tolerance
        logs, share = np.log(ritz[alive]), weights[alive].sum()
        moments.append((max(1 - share, 0.0),
                        weights[alive] @ logs / share if share else np.nan,
                        weights[alive] @ logs**2 / share if share else np.nan))
    zero, log_mean, log_second = (np.array(column) for column in zip(*moments))
    log_var = np.nanmean(log_second) - np.nanmean(log_mean) ** 2  # pooled over chains, as summary() pools rows
    smallest = min(ritz.min() for ritz, _ in ritz_weights)
    return {"rows": rows, "count": rows * k, "mean": float(mean), "variance": float(max(second - mean**2, 0.0)),
            "max": float(top), "min": float(smallest if smallest > tolerance else 0.0),
            "zero_fraction": float(round(zero.mean(), 12)),
            "log_std": float(np.sqrt(max(log_var, 0.0))) if np.isfinite(log_var) else float("nan")}


def lanczos(operator, start: np.ndarray, steps: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Lanczos on a symmetric operator from each unit row of `start` ([chains, k]; operator maps [chains, k] to
    [chains, k]), with full reorthogonalization: per chain its Ritz values and their quadrature weights (their
    eigenvectors' first components squared), a chain that found an invariant subspace cut there."""
    chains = len(start)
    basis = np.zeros((steps, chains, start.shape[1]))
    alphas, betas = np.zeros((chains, steps)), np.zeros((chains, steps))
    v, previous, beta = start, np.zeros_like(start), np.zeros(chains)
    sizes = np.full(chains, steps)
    for i in range(steps):
        basis[i] = v
        w = operator(v) - beta[:, None] * previous
        alphas[:, i] = np.einsum("ck,ck->c", w, v)
        for _ in range(2):  # against the whole basis, twice ("twice is enough": Giraud et al. 2005)
            w -= np.einsum("sc,sck->ck", np.einsum("sck,ck->sc", basis[: i + 1], w), basis[: i + 1])
        beta = np.linalg.norm(w, axis=1)
        broke = (beta <= BREAKDOWN * np.abs(alphas[:, : i + 1]).max(axis=1)) & (sizes == steps)
        sizes[broke] = i + 1  # an invariant subspace: the chain's Ritz values are exact; it stops (v = 0 from here)
        beta = np.where(sizes > i + 1, beta, 0.0)
        betas[:, i] = beta
        previous, v = v, w / np.where(beta > 0, beta, np.inf)[:, None]
    out = []
    for c in range(chains):
        size = int(sizes[c])
        ritz, vectors = np.linalg.eigh(np.diag(alphas[c, :size]) + np.diag(betas[c, : size - 1], 1)
                                       + np.diag(betas[c, : size - 1], -1))
        out.append((np.maximum(ritz, 0.0), vectors[0] ** 2))
    return out
