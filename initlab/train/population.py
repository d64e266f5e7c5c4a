"""Many runs as one: members that share shapes, data, optimizer and schedule train in one compiled graph.

Each layer holds its members' kernels stacked as [K, fan_in, fan_out] (a batched matmul), each member with
its own initial weights (drawn exactly as a solo run draws them, one 2-D initializer call per member and layer),
its own shuffle order, and its own optimizer state: the optimizers allowed here update every weight on its own,
so one optimizer over stacked variables is K independent optimizers.
"""

import json
import time

import numpy as np

from initlab.base.backend import graph_optimizer_off, keras as _keras, numerics, tf as _tf, versions
from initlab.config import cadence, initializers
from initlab.train import (
    engine,
    initializer_factory,
    jacobian,
    lsuv,
    model as model_module,
    parametrization,
    propagation,
    residual,
    stats,
)
from initlab.train.data import Dataset
from initlab.train.probes import PROBE_ROWS
from initlab.train.run_result import RunResult, histogram_epochs

ELEMENTWISE_OPTIMIZERS = {"sgd", "adam", "adamw", "adamax", "nadam", "rmsprop", "adagrad", "adadelta", "lion", "ftrl"}


def can_join(config) -> bool:
    """Whether a run may train in company: its optimizer must act on each weight alone (not Adafactor, Muon, ...),
    and its model must be one a population stacks: the plain chain, or residual blocks without normalization
    (a normalized branch trains alone: its batch statistics and moving averages are the solo model's own)."""
    res = config.model.residual
    stacked = res is None or (res.normalization == "none" and config.model.set_weights is None)
    return config.train.optimizer.lower() in ELEMENTWISE_OPTIMIZERS and stacked


def initial_weights(config, n_features: int, task: str, n_classes: int, x=None) -> tuple[list[tuple], dict | None]:
    """((kernel, bias) per Dense layer in graph order (the hidden layers, the residual blocks' if any, the output),
    drawn as model.build draws them: the same initializer call, shape and seed; what model.data_init did to them
    on the probe batch x, as runs.prepare does it, or None)."""
    layers = config.model.hidden_layers()
    units = [layer.units for layer in layers] + [model_module.output_units(task, n_classes)]
    kernels = [layer.kernel_initializer for layer in layers] + [config.model.kernel_initializer]
    biases = [layer.bias_initializer for layer in layers] + [config.model.bias_initializer]
    weights, fan_in = [], n_features
    scales = [f.init_std for f in parametrization.factors(config, n_features, units[-1])]
    for i, (width, kernel, bias, scale) in enumerate(zip(units, kernels, biases, scales)):
        k = initializer_factory.make(kernel, initializers.layer_seed(config.seed, i, 0))((fan_in, width), dtype="float32")
        b = initializer_factory.make(bias, initializers.bias_seed(bias, config.seed, i), fan_in)((width,), dtype="float32")
        k, b = np.asarray(k, np.float32), np.asarray(b, np.float32)
        if config.model.set_weights is not None:
            k, b = np.full_like(k, config.model.set_weights), np.full_like(b, config.model.set_weights)
        if scale != 1.0:
            k = model_module.scaled_kernel(k, scale)
        weights.append((k, b))
        fan_in = width
    if config.model.residual is not None:
        weights[-1:-1] = residual.branch_weights(config)
    if config.model.data_init is not None:
        keras = _keras()
        activations = [keras.activations.get(layer.activation) for layer in layers]
        activations.append(keras.activations.get(config.model.output_activation or model_module.TASK_DEFAULTS[task][0]))
        spec = config.model
        return lsuv.lsuv(weights, activations, x, spec.data_init_tol, spec.data_init_iters)
    return weights, None


def batched_initial_weights(configs: list, data: Dataset) -> list | None:
    """initial_weights of every member, each layer's kernels and biases drawn in one call per initializer over the
    members' layer seeds (batched_draws.draw: the solo draws, byte for byte); None where a member's start is more
    than its initializers' draw (model.set_weights, model.data_init, muP's scaled kernels, residual blocks)."""
    from initlab.train import batched_draws

    first = configs[0]
    units = [layer.units for layer in first.model.hidden_layers()] + [model_module.output_units(data.task, data.n_classes)]
    if any(c.model.set_weights is not None or c.model.data_init is not None or c.model.residual for c in configs) or \
            any(f.init_std != 1.0 for f in parametrization.factors(first, data.n_features, units[-1])):
        return None
    drawn = [[[None, None] for _ in units] for _ in configs]
    fans = [data.n_features, *units[:-1]]
    for role, shape_of in ((0, lambda i: (fans[i], units[i])), (1, lambda i: (units[i],))):
        for i in range(len(units)):
            specs = [_specs(c, role)[i] for c in configs]
            together: dict[str, list[int]] = {}
            for m, spec in enumerate(specs):
                together.setdefault(repr(initializers.parse(spec)), []).append(m)
            for members in together.values():
                # a bias's seed as initial_weights takes it (randomized_asymmetric's is its kernel's, with its fan-in)
                seeds = [initializers.bias_seed(specs[m], configs[m].seed, i) if role else
                         initializers.layer_seed(configs[m].seed, i, 0) for m in members]
                values = batched_draws.draw(specs[members[0]], shape_of(i), seeds, fans[i] if role else None)
                for j, m in enumerate(members):
                    drawn[m][i][role] = np.array(values[j], np.float32)
    return [([tuple(pair) for pair in member], None) for member in drawn]


def _specs(config, role: int) -> list:
    """The kernel (role 0) or bias (role 1) initializer of each Dense layer, as initial_weights reads them."""
    layers = config.model.hidden_layers()
    if role == 0:
        return [layer.kernel_initializer for layer in layers] + [config.model.kernel_initializer]
    return [layer.bias_initializer for layer in layers] + [config.model.bias_initializer]


class Population:
    """K members' weights, optimizer and compiled training loop (the population twin of engine.FastLoop)."""

    def __init__(self, configs: list, data: Dataset, batched: bool = False):
        tf, keras = _tf(), _keras()
        self.batched = batched
        first = configs[0]
        self.k, self.task = len(configs), data.task
        self.metric_name = model_module.metric_name(data.task)
        self.metric = engine.metric_function(data.task)
        self.loss = keras.losses.get(first.train.loss)
        layers = first.model.hidden_layers()
        self.blocks = Blocks(first.model)
        plain = model_module.layer_names(len(layers))
        self.dense_names = plain[:-1] + self.blocks.dense_names + plain[-1:]  # every Dense layer, in graph order
        self.names = plain[:-1] + self.blocks.recorded + plain[-1:]  # layers.csv's rows: with the blocks' sums
        self.activations = ([layer.activation for layer in layers] + ["linear"] * len(self.blocks.dense_names)
                            + [first.model.output_activation])
        self.activation_fns = [keras.activations.get(name) for name in self.activations]
        drawn = self._draw(configs, data)
        self.kernels = [tf.Variable(np.stack([m[i][0] for m in drawn]), name=f"{n}_kernel")
                        for i, n in enumerate(self.dense_names)]
        self.biases = [tf.Variable(np.stack([m[i][1] for m in drawn]), name=f"{n}_bias")
                       for i, n in enumerate(self.dense_names)]
        self.scales = [tf.Variable(np.zeros(self.k, np.float32), name=f"{n}_alpha") for n in self.blocks.scale_names]
        self.variables = [v for pair in zip(self.kernels, self.biases) for v in pair] + self.scales
        self.backup = [tf.Variable(v, trainable=False) for v in self.variables]
        # Each member's learning rate, times muP's factor per layer, is the rate its variables' slice steps with.
        self.rates = [tf.Variable(value, trainable=False) for value in self._rates(configs, data)]
        from initlab.train import layer_rates  # imports Keras: a sweep's plan reads can_join without it

        names = [v.name.split(":")[0] for v in self.variables]
        self.optimizer = layer_rates.optimizer(first.train.optimizer, 1.0, dict(zip(names, self.rates)))
        self.optimizer.build(self.variables)
        self.optimizer_start = [v.numpy() for v in self.optimizer.variables]
        # Seeds and data are variables, not constants, so that the next group of this shape reuses the traced graph.
        fixed = lambda value: tf.Variable(value, trainable=False)  # noqa: E731
        self.seeds = fixed(np.array([c.seed for c in configs], np.int32))
        self.x, self.y, self.x_val, self.y_val, self.probe_x, self.probe_y = map(fixed, _arrays(data))
        self.has_val = len(data.x_val) > 0
        self.batch_size, self.shuffle = first.train.batch_size, first.train.shuffle
        self.probe_rows, self.kernel_shapes = int(self.probe_x.shape[0]), [tuple(k.shape[1:]) for k in self.kernels]
        self.sample_names = self.dense_names  # engine.train_chunks: raw samples of the Dense layers
        width = {name: shape[-1] for name, shape in zip(self.dense_names, self.kernel_shapes)}
        self.widths = [width.get(name, first.model.hidden[-1] if first.model.hidden else 0) for name in self.names]
        self.row_order = [(self.dense_names + self.blocks.sums).index(name) for name in self.names]
        self.run_chunk = engine.chunk_function(self)
        self._final = None  # final_scores's compiled evaluation, traced at its first call

    def _draw(self, configs: list, data: Dataset) -> list:
        """Each member's initial (kernel, bias) per layer; keeps the configs, data and draws. A big sweep's group
        (batched: set by population_for) draws each initializer's kernels for all its members in one call."""
        self.configs, self.data = configs, data
        drawn = (self.batched and batched_initial_weights(configs, data)) or \
            [initial_weights(c, data.n_features, data.task, data.n_classes, data.x_train[:PROBE_ROWS]) for c in configs]
        self.initial = [weights for weights, _ in drawn]
        self.data_init = [report for _, report in drawn]
        return self.initial

    def _rates(self, configs: list, data: Dataset) -> list[np.ndarray]:
        """Per variable (kernel, bias of each layer) the members' rates, [K, 1, 1] and [K, 1]: the float32 product a
        solo run's optimizer computes, learning rate times the layer's factor."""
        rates = np.array([c.train.learning_rate for c in configs], np.float32)
        factors = parametrization.factors(configs[0], data.n_features, model_module.output_units(data.task, data.n_classes))
        plain = [rates.reshape(shape) * np.float32(factor) for f in factors
                 for factor, shape in ((f.kernel_rate, (-1, 1, 1)), (f.bias_rate, (-1, 1)))]
        blocks = [rates.reshape(shape) for _ in self.blocks.dense_names for shape in ((-1, 1, 1), (-1, 1))]
        return plain[:-2] + blocks + plain[-2:] + [rates for _ in self.blocks.scale_names]  # as self.variables

    def reload(self, configs: list, data: Dataset) -> None:
        """Start over with other members of the same shape (shape_key): their weights, seeds and data, the optimizer
        as built; the compiled loop stays. Every number it computes is the one a fresh Population computes."""
        drawn = self._draw(configs, data)
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            kernel.assign(np.stack([m[i][0] for m in drawn]))
            bias.assign(np.stack([m[i][1] for m in drawn]))
        for scale in self.scales:
            scale.assign(np.zeros(self.k, np.float32))
        for variable, value in zip(self.optimizer.variables, self.optimizer_start):
            variable.assign(value)
        for variable, value in zip(self.rates, self._rates(configs, data)):
            variable.assign(value)
        self.seeds.assign(np.array([c.seed for c in configs], np.int32))
        for variable, value in zip((self.x, self.y, self.x_val, self.y_val, self.probe_x, self.probe_y), _arrays(data)):
            variable.assign(value)

    def forward(self, x):
        """x [K, B, d] -> (outputs per Dense layer [K, B, units]), the last being the predictions."""
        return self.forward_with_sums(x)[0]

    def forward_with_sums(self, x):
        """x [K, B, d] -> (outputs per Dense layer, outputs of each residual block's sum), each [K, B, units]."""
        tf = _tf()
        outputs, sums, a = [], [], x
        layers = list(zip(self.kernels, self.biases, self.activation_fns))
        stem, branches, last = layers[: self.blocks.first], layers[self.blocks.first : -1], layers[-1:]
        for kernel, bias, activation in stem:
            a = activation(tf.matmul(a, kernel) + bias[:, None, :])
            outputs.append(a)
        m = self.blocks.branch_layers
        for b in range(len(self.blocks.sums)):
            h = a
            for kernel, bias, _ in branches[b * m : (b + 1) * m]:
                h = tf.matmul(self.blocks.activation(h), kernel) + bias[:, None, :]  # pre-activation: act, then Dense
                outputs.append(h)
            if self.scales:
                h = h * self.scales[b][:, None, None]
            a = a + h
            sums.append(a)
        for kernel, bias, activation in last:
            a = activation(tf.matmul(a, kernel) + bias[:, None, :])
            outputs.append(a)
        return outputs, sums

    def _losses(self, y, y_pred):
        """Each member's mean loss over its batch: [K]."""
        tf = _tf()
        return tf.reduce_mean(tf.reshape(self.loss(y, y_pred), [self.k, -1]), axis=1)

    def _sweep(self, x, y, orders, train: bool):
        """Per-member (mean loss, mean metric) over batches of x[orders[k]], weighted by batch size as fit does."""
        tf = _tf()
        step = self._train_batch_step if train else self._eval_batch_step

        def batch(start, totals):
            loss_total, metric_total, count = totals
            rows = orders[:, start : start + self.batch_size]
            xb, yb = tf.gather(x, rows), tf.gather(y, rows)
            losses, y_pred = step(xb, yb)
            batch_rows = tf.cast(tf.shape(rows)[1], tf.float32)
            matches = tf.reduce_sum(tf.reshape(tf.cast(self.metric(yb, y_pred), tf.float32), [self.k, -1]), axis=1)
            return loss_total + losses * batch_rows, metric_total + matches, count + batch_rows

        zeros = tf.zeros([self.k])
        loss_total, metric_total, count = engine.over_batches(tf.shape(x)[0], self.batch_size, batch, (zeros, zeros, 0.0))
        return tf.math.divide_no_nan(loss_total, count), tf.math.divide_no_nan(metric_total, count)

    def _train_batch_step(self, xb, yb):
        tf = _tf()
        with tf.GradientTape() as tape:
            y_pred = self.forward(xb)[-1]
            losses = self._losses(yb, y_pred)
            total = tf.reduce_sum(losses)  # members share no weight: d total / d member k = d loss_k
        grads = tape.gradient(total, self.variables)
        self.optimizer.apply_gradients(zip(grads, self.variables))
        return losses, y_pred

    def _eval_batch_step(self, xb, yb):
        y_pred = self.forward(xb)[-1]
        return self._losses(yb, y_pred), y_pred

    def evaluate(self, x, y):
        tf = _tf()
        orders = tf.tile(tf.range(tf.shape(x)[0])[None, :], [self.k, 1])
        return self._sweep(x, y, orders, train=False)

    def final_scores(self, x, y):
        """evaluate(x, y) of the final weights: compiled once for residual blocks, where running a deep net eagerly
        costs about 0.1 s a batch (the plain chain's few layers run eagerly, as they always have)."""
        if not self.blocks.sums:
            return self.evaluate(x, y)
        tf = _tf()
        if self._final is None:
            signature = [tf.TensorSpec([None, *x.shape[1:]], x.dtype), tf.TensorSpec([None, *y.shape[1:]], y.dtype)]
            self._final = tf.function(self.evaluate, input_signature=signature, autograph=False)
        with graph_optimizer_off():
            return self._final(tf.convert_to_tensor(x), tf.convert_to_tensor(y))

    def epoch(self, epoch, active):
        """Like FastLoop.epoch, per member: (rows [4, K], still finite [K]). A member whose loss or weights stop being
        finite gets the weights from before that epoch back and stays frozen (inactive); the others go on."""
        tf = _tf()
        n = tf.shape(self.x)[0]
        for saved, variable in zip(self.backup, self.variables):
            saved.assign(variable)
        if self.shuffle:
            orders = tf.stack([engine.epoch_order(self.seeds[m], epoch, n) for m in range(self.k)])
        else:
            orders = tf.tile(tf.range(n)[None, :], [self.k, 1])
        loss, metric = self._sweep(self.x, self.y, orders, train=True)
        if self.has_val:
            val_loss, val_metric = self.evaluate(self.x_val, self.y_val)
        else:
            val_loss = val_metric = tf.fill([self.k], np.float32(np.nan))
        finite = tf.math.is_finite(loss)
        for variable in self.variables:
            finite = tf.logical_and(finite, tf.reduce_all(tf.math.is_finite(tf.reshape(variable, [self.k, -1])), axis=1))
        keep = tf.logical_and(active, finite)
        restored = []
        for saved, variable in zip(self.backup, self.variables):
            mask = tf.reshape(keep, [self.k] + [1] * (len(variable.shape) - 1))
            restored.append(variable.assign(tf.where(mask, variable, saved)))
        with tf.control_dependencies(restored):
            return tf.stack([loss, metric, val_loss, val_metric]), tf.identity(keep)

    def measure(self):
        """stats.measure of every member on the probe batch (each member's kernel gradient of its own loss)."""
        tf = _tf()
        xs = tf.tile(self.probe_x[None], [self.k, 1, 1])
        ys = tf.tile(self.probe_y[None], [self.k] + [1] * len(self.probe_y.shape))
        with tf.GradientTape() as tape:
            outputs, sums = self.forward_with_sums(xs)
            total = tf.reduce_sum(self._losses(ys, outputs[-1]))  # members share no weight: d total / d kernel_k = d loss_k
        measured = stats.all_layer_statistics(self.activations, outputs, self.kernels, self.biases,
                                              tape.gradient(total, self.kernels))
        return stats.with_sums(*measured, sums, self.row_order)

    def weights(self) -> list[dict[str, np.ndarray]]:
        """Every member's weights by name ('<layer>/kernel', '<layer>/bias'); each variable read once."""
        named = [(key, variable.numpy()) for key, variable in self.named_variables()]
        return [{key: array[member].copy() for key, array in named} for member in range(self.k)]

    def named_variables(self) -> list[tuple[str, object]]:
        """('<layer>/kernel', '<layer>/bias', '<block>_scale/alpha': weights_*.npz's keys) with their variables."""
        return ([(f"{name}/{part}", variable) for name, kernel, bias in zip(self.dense_names, self.kernels, self.biases)
                 for part, variable in (("kernel", kernel), ("bias", bias))]
                + [(f"{name}/alpha", scale) for name, scale in zip(self.blocks.scale_names, self.scales)])

    def initial_by_name(self, member: int) -> dict[str, np.ndarray]:
        """A member's initial weights as weights_initial.npz names them (SkipInit's scalars start at 0)."""
        drawn = {f"{n}/{part}": w for n, pair in zip(self.dense_names, self.initial[member])
                 for part, w in zip(("kernel", "bias"), pair)}
        return {**drawn, **{f"{name}/alpha": np.float32(0.0) for name in self.blocks.scale_names}}


class Blocks:
    """A population's residual blocks (none for the plain chain): names, where they start, their activation."""

    def __init__(self, spec):
        res = spec.residual
        count, self.branch_layers = (res.blocks, res.branch_layers) if res else (0, 1)
        self.first = len(spec.hidden)  # Dense layers before the blocks: the stem
        self.dense_names = residual.dense_names(count, self.branch_layers)
        self.sums = [residual.block_name(b, "sum") for b in range(1, count + 1)]
        self.scale_names = [residual.block_name(b, "scale") for b in range(1, count + 1)] \
            if res and res.branch_init == "skipinit" else []
        self.recorded = []  # layers.csv's rows of the blocks: each block's Dense layers, then its sum
        for b in range(1, count + 1):
            self.recorded += [residual.block_name(b, f"dense_{j}") for j in range(1, self.branch_layers + 1)]
            self.recorded.append(self.sums[b - 1])
        self.activation = _keras().activations.get(spec.activation) if res else None


def _arrays(data: Dataset) -> tuple:
    return data.x_train, data.y_train, data.x_val, data.y_val, data.x_train[:PROBE_ROWS], data.y_train[:PROBE_ROWS]


def shape_key(configs: list, data: Dataset) -> str:
    """Groups with the same key trace the same graph: member count, array shapes and everything of the config but
    seeds and initial weights."""
    plain = configs[0].shared_in_a_population()
    for key in ("data", "record"):  # the data are loaded into the graph's variables; records are its arguments
        plain.pop(key)
    plain["shapes"] = [(a.shape, str(a.dtype)) for a in _arrays(data)]
    return json.dumps([len(configs), data.task, data.n_classes, plain], sort_keys=True, default=str)


_kept: tuple[str, Population] | None = None  # the last population, whose compiled loop the next group may reuse


def forget_compiled() -> None:
    """Drop the kept population (its variables and compiled loop)."""
    global _kept
    _kept = None


def population_for(configs: list, data: Dataset, batched: bool = False) -> Population:
    """A Population of configs: the kept one reloaded when its shape matches (tracing costs ~1 s a group), else new.
    Only one is kept, so memory stays bounded however many groups a sweep has. `batched`: draw the initial weights
    per initializer for all members at once (each initializer's draw is traced once, ~0.3 s: for big sweeps)."""
    global _kept
    key = shape_key(configs, data)
    if _kept is not None and _kept[0] == key:
        _kept[1].batched = batched
        _kept[1].reload(configs, data)
        return _kept[1]
    forget_compiled()  # before tracing the next one
    population = Population(configs, data, batched)
    _kept = (key, population)
    return population


def train_population(configs: list, data: Dataset, on_epoch=None, extras: bool = True) -> list:
    """Train configs (one group: same shapes, data, optimizer and schedule) together; one RunResult each. Without
    `extras` the results leave out what only a run folder holds (signal.csv's rows, the Jacobian's spectra): a sweep
    whose table keeps the group's records (each run's signal costs about as much as its training)."""
    started = time.perf_counter()
    population = population_for(configs, data, batched=not extras)
    metric = population.metric_name
    chain = lambda m: [(n, k, b, act) for n, (k, b), act in  # noqa: E731
                       zip(population.dense_names, population.initial[m], population.activations)]
    results = [
        RunResult(c, data.task, metric, engine=c.train.engine, data_init=population.data_init[m],
                  weights_initial=population.initial_by_name(m),
                  signal=None if not extras else [] if c.model.residual else  # a plain chain's theory: no signal.csv
                  propagation.rows(chain(m), data.x_train[:PROBE_ROWS], c.seed),
                  jacobian=None if not extras else jacobian.recorded(c, chain(m), data.x_train[:PROBE_ROWS]))
        for m, c in enumerate(configs)
    ]
    first = configs[0]
    recorded = cadence.record_epochs(first.train.epochs, first.record.every)
    outcomes = [engine.Outcome() for _ in configs]
    engine.train_chunks(population, outcomes, metric, recorded, set(), histogram_epochs(recorded),
                        on_epoch or (lambda epoch: None))
    for result, outcome in zip(results, outcomes):
        result.history, result.diverged_at = outcome.history, outcome.diverged_at
        result.layer_rows, result.samples = outcome.layer_rows, outcome.samples
    for prefix, x, y in (("", population.x, population.y), ("val_", population.x_val, population.y_val)):
        losses, values = population.final_scores(x, y) if x.shape[0] else (np.full(len(configs), np.nan),) * 2
        for m, result in enumerate(results):
            result.final[f"{prefix}loss"], result.final[f"{prefix}{metric}"] = float(losses[m]), float(values[m])
    elapsed = (time.perf_counter() - started) / len(configs)
    for result, weights in zip(results, population.weights()):
        result.weights_final = weights
        result.duration_s = elapsed
        result.company = len(configs)
        result.rows = data.rows
        result.versions, result.numerics = versions(), numerics()
    return results
