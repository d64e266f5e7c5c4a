"""Lu, Shin, Su and Karniadakis 2019 replayed at the draw: the chance that a deep narrow ReLU net is born dead (its
output constant over the input domain: some hidden layer's units all zero for every input), by width and depth,
under a symmetric init (He, zero biases) and under their randomized asymmetric init (RAI), with intervals.

One input (d_in = 1), domain [-sqrt(3), sqrt(3)], probed at PROBE evenly spaced points (the ends included). For a
net without biases the probe is exact: ReLU(W t x) = t ReLU(W x) for t >= 0, so a layer zero at both ends is zero
on the whole domain. With RAI's biases a finite probe could call a net dead that lives between two probe points:
`denser` counts how often a probe DENSER times finer disagrees, on a sample of the draws.

The draws are the lab's own (train/batched_draws.py, equal to solo runs); the first L hidden layers of a deep net
are the net of depth L with the same run seed (layer seeds depend on the run seed and the layer's index only), so
one draw of the deepest net gives every depth."""

import math
import time

import numpy as np
from scipy import stats

from initlab.base.errors import UserError
from initlab.config import limits
from initlab.output import plots
from initlab.train import batched_draws, model as model_module

DOMAIN = math.sqrt(3)  # [-sqrt 3, sqrt 3]: unit variance for a uniform input
PROBE = 101  # probe points over the domain
DENSER = 40  # the check's probe: 40 times finer (4,001 points)
MAX_DRAWS = limits.MAX_SWEEP_RUNS  # initializations per cell, as many as the runs of one sweep
CHUNK = 500  # members pushed through the probe at once
PUBLISHED = {3: (0.5, 0.7), 5: (0.1, 1.0), 10: (0.0, 0.01)}  # width: P(born dead) at 10 layers, as read from the figure
SHOWN = {3: 0.6, 5: 0.1, 10: 0.01}  # the readings drawn as crosses: about 60%, over 10%, under 1%
AT = 10  # the depth of those readings, where the widths must differ and from which RAI must be lower
CHECKED = 300  # draws of the narrowest RAI case probed again DENSER times finer
COST_DRAWS, FIT_EPOCHS = 1000, 100  # the full replay's cost: a thousand draws of one cell against one plain fit


def check(depth: int, draws: int) -> None:
    """A depth or a draw count past the limits, in one line."""
    for what, value, limit in (("hidden layers", depth, limits.MAX_LAYERS), ("initializations per cell", draws, MAX_DRAWS)):
        if value > limit:
            raise UserError(f"{what}: {value:,}, over the limit of {limit:,}")
    if draws < 1:
        raise UserError(f"initializations per cell: {draws}, at least 1 is needed")


def probe(points: int = PROBE) -> np.ndarray:
    return np.linspace(-DOMAIN, DOMAIN, points, dtype=np.float32)


def dead_layers(weights, x: np.ndarray) -> np.ndarray:
    """[K, layers] bool: hidden layer j of member k has every unit at 0 at every probe point."""
    a = np.broadcast_to(x[None, :, None], (weights[0][0].shape[0], len(x), 1))
    dead = []
    for kernel, bias in weights:
        a = np.maximum(np.matmul(a, kernel) + bias[:, None, :], 0)
        dead.append(a.max(axis=(1, 2)) <= 0)
    return np.stack(dead, axis=1)


def born_dead(config, draws: int, points: int = PROBE, first_seed: int = 0) -> np.ndarray:
    """[draws, depth] bool: the net of the first L hidden layers (column L - 1) is born dead, per run seed."""
    x, found = probe(points), []
    for start in range(first_seed, first_seed + draws, CHUNK):
        seeds = list(range(start, min(start + CHUNK, first_seed + draws)))
        found.append(np.logical_or.accumulate(dead_layers(batched_draws.hidden_weights(config, 1, seeds), x), axis=1))
    return np.concatenate(found)


def wilson(dead: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """95% Wilson score intervals of counts out of n: inside [0, 1], at 0 and at n too."""
    pairs = [stats.binomtest(int(k), n).proportion_ci(0.95, method="wilson") for k in np.ravel(dead)]
    low = np.array([p.low for p in pairs]).reshape(np.shape(dead))
    high = np.array([p.high for p in pairs]).reshape(np.shape(dead))
    return np.clip(low, 0, 1), np.clip(high, 0, 1)


def one_ray_lives(width: int, depth: np.ndarray) -> np.ndarray:
    """P(the ray of x > 0 survives `depth` layers), zero biases, symmetric weights, d_in = 1: each layer maps a live
    ray to a vector of independent symmetric entries, all <= 0 with chance 2^-width."""
    return (1 - 0.5**width) ** np.asarray(depth, float)


def bounds(width: int, depth) -> tuple[np.ndarray, np.ndarray]:
    """Born-dead probability between P(both rays die) >= 1 - 2 (1 - 2^-N)^L and P(one ray dies) = 1 - (1 - 2^-N)^L
    (a bias-free ReLU net of one input maps [-a, a] onto two rays; it is dead when both are). Exact at width 1."""
    alive = one_ray_lives(width, depth)
    return np.maximum(1 - 2 * alive, 0), 1 - alive


def width_one(depth) -> np.ndarray:
    """A width-1 net without biases: the first layer keeps one ray, every later one keeps it with chance 1/2."""
    return 1 - 0.5 ** (np.asarray(depth, float) - 1)


def measure(configs: dict, draws: int) -> dict:
    """Per case {label: config} (a width and an init, one depth): dead counts and Wilson intervals at every depth."""
    rows = {}
    for label, config in configs.items():
        depth = len(config.model.hidden_layers())
        check(depth, draws)
        dead = born_dead(config, draws)
        counts = dead.sum(axis=0)
        low, high = wilson(counts, draws)
        rows[label] = {"width": config.model.hidden_layers()[0].units, "depths": np.arange(1, depth + 1),
                       "biased": config.model.bias_initializer.canonical != "zeros",
                       "p": counts / draws, "low": low, "high": high}
    return rows


def denser(config, draws: int) -> dict:
    """How often the probe calls a net dead that a DENSER times finer probe finds alive (same draws, every depth)."""
    coarse, fine = born_dead(config, draws), born_dead(config, draws, (PROBE - 1) * DENSER + 1)
    return {"draws": draws, "cells": int(coarse.size), "disagree": int((coarse != fine).sum()),
            "dead": int(coarse.sum())}


def cost(config, draws: int, epochs: int, data) -> dict:
    """Seconds for `draws` initializations of the case's deepest cell drawn and probed, against one plain Keras fit of
    one such net (model.fit, `epochs` epochs, on the config's data), in this process."""
    started = time.perf_counter()
    born_dead(config, draws, first_seed=10**6)  # seeds no replay drew: nothing traced is reused but the ops
    drawn = time.perf_counter() - started
    net = model_module.build(config, data.x_train.shape[1], data.task, data.n_classes)
    model_module.compile(net, config, data.task)
    started = time.perf_counter()
    net.fit(data.x_train, data.y_train, batch_size=config.train.batch_size, epochs=epochs, verbose=0)
    return {"draws": draws, "drawn": drawn, "fit": time.perf_counter() - started, "epochs": epochs,
            "rows": len(data.x_train)}


def figure(rows: dict, path, title: str, published: dict | None = None) -> None:
    """Born-dead probability against depth, one line per width with its 95% band; the bounds beside (dashed) for the
    symmetric init, the published values as crosses."""
    panels = {}
    for row in rows.values():
        init = "RAI" if row["biased"] else "symmetric (He, zero biases)"
        panels.setdefault(init, {})[f"width {row['width']}"] = (row["depths"], row["p"], row["low"], row["high"])
    theory = {f"width {row['width']}": bounds(row["width"], row["depths"]) for row in rows.values() if not row["biased"]}
    plots.born_dead_lines(panels, {"symmetric (He, zero biases)": theory}, published or {}, path, title)


def grid_figure(rows: dict, path, title: str) -> None:
    """The lesson's picture: born-dead probability over (depth, width), one heat map per init."""
    grids = {}
    for row in rows.values():
        init = "RAI" if row["biased"] else "He, zero biases"
        grids.setdefault(init, {})[row["width"]] = dict(zip(row["depths"].tolist(), row["p"]))
    plots.born_dead_grid(grids, path, title)


def _cell(row, d: int) -> str:
    return f"{row['p'][d]:.3f} [{row['low'][d]:.3f}, {row['high'][d]:.3f}]"


def _timing(rows: dict, configs: dict, the_plan) -> str:
    """COST_DRAWS draws of the widest He and RAI cells against one plain fit of that net, in this process."""
    widest = {init: max((label for label in rows if rows[label]["biased"] == biased), key=lambda l: rows[l]["width"])
              for init, biased in (("He", False), ("RAI", True))}
    spent = {init: cost(configs[label], COST_DRAWS, FIT_EPOCHS, the_plan.data_for(configs[label]))
             for init, label in widest.items()}
    he, row = spent["He"], rows[widest["He"]]
    return (f"; {COST_DRAWS} draws of the width-{row['width']}, depth-{len(row['depths'])} cell drawn and probed in "
            f"{he['drawn']:.1f} s (He), {spent['RAI']['drawn']:.1f} s (RAI); one plain Keras fit of that net "
            f"({he['epochs']} epochs, {he['rows']} rows): {he['fit']:.1f} s")


def claim(the_plan, path, draws: int) -> dict:
    """The replay's numbers: within (the two-ray bounds and the published readings), beats (the widths apart at
    depth AT, RAI below He beyond the intervals in most narrow deep cells), the words of the table's row."""
    configs = {run.case: config for run, config in zip(the_plan.planned, the_plan.resolved)}
    rows = measure(configs, draws)
    he = {row["width"]: row for row in rows.values() if not row["biased"]}
    rai = {row["width"]: row for row in rows.values() if row["biased"]}
    at, depth = AT - 1, len(next(iter(rows.values()))["depths"])
    shown = {f"width {w}": (np.array([AT]), np.array([SHOWN[w]])) for w in SHOWN if w in he}
    figure(rows, path, f"Lu et al. 2019: ReLU nets of one input on [-sqrt 3, sqrt 3], {draws} draws a case (95% "
                       f"Wilson bands); dashed: the two-ray bounds", {"symmetric (He, zero biases)": shown})
    inside = all(np.all((row["high"] >= bounds(w, row["depths"])[0] - 1e-12)
                        & (row["low"] <= bounds(w, row["depths"])[1] + 1e-12)) for w, row in he.items())
    readings = all(he[w]["high"][at] >= low and he[w]["low"][at] <= high for w, (low, high) in PUBLISHED.items() if w in he)
    narrow, wide = min(he), max(he)
    widths_apart = he[wide]["high"][at] < he[narrow]["low"][at]
    cells = [(w, d) for w in he if w <= 5 and w in rai for d in range(at, depth)]
    lower = [(w, d) for w, d in cells if rai[w]["high"][d] < he[w]["low"][d]]
    narrowest_rai = min((label for label in rows if rows[label]["biased"]), key=lambda label: rows[label]["width"])
    checked = denser(configs[narrowest_rai], min(draws, CHECKED))
    measured = (f"P(born dead) at depth {AT} / {depth}, He: "
                + ", ".join(f"width {w} {_cell(he[w], at)} / {he[w]['p'][-1]:.2f}" for w in sorted(he))
                + "; RAI: " + ", ".join(f"width {w} {_cell(rai[w], at)} / {rai[w]['p'][-1]:.2f}" for w in sorted(rai))
                + "; every He cell " + ("meets" if inside else "does not always meet") + " the two-ray bounds; "
                f"a {DENSER}x finer probe changes {checked['disagree']} of {checked['cells']} {narrowest_rai} "
                f"cells (draw x depth)" + (_timing(rows, configs, the_plan) if draws >= COST_DRAWS else ""))
    baseline = (f"depth only (every width alike): at depth {AT} width {narrow} {_cell(he[narrow], at)} against width "
                f"{wide} {_cell(he[wide], at)}, " + ("apart" if widths_apart else "not told apart")
                + f"; RAI no better than He: RAI lower beyond the intervals in {len(lower)} of {len(cells)} cells "
                f"(width <= 5, depth >= {AT})")
    return {"within": inside and readings, "beats": widths_apart and len(cells) > 0 and len(lower) > len(cells) / 2,
            "measured": measured, "baseline": baseline,
            "missed": f"outside the two-ray bounds or the published readings at depth {AT}",
            "lost": f"the widths are not told apart at depth {AT}, or RAI is not lower than He beyond the intervals"}
