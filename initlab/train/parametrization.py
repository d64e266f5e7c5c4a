"""The maximal-update parametrization (muP) of the lab's MLP: per layer, a factor on the initial kernel's std and on
the learning rate of its kernel and bias, from Yang et al. 2022 ("Tensor Programs V", arXiv 2203.03466), Table 3:

                      input weights & all biases   output weights            hidden weights
    init. variance    1/fan_in                     1/fan_in^2  (SP 1/fan_in) 1/fan_in
    SGD learning rate eta * fan_out  (SP eta)      eta / fan_in  (SP eta)    eta
    Adam learning rate eta                         eta / fan_in  (SP eta)    eta / fan_in  (SP eta)

A dimension that grows with width (a hidden layer's units) enters as its ratio to model.base_width, so at the base
width every factor is 1 and muP is the standard network (SP); the input's features and the output's units stay
fixed. The initializer the config names sets the 1/fan_in variance; muP multiplies the output kernel's std by
1/sqrt(fan_in / base_width). Table 3's output row is the mup package's output multiplier 1/width_mult folded into
the weights: W/m with Var(W) = m/fan_in and Adam rate eta has Var(W/m) = 1/(m fan_in) and steps eta/m.
Pure arithmetic on the config: no TensorFlow.
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LayerFactors:
    role: str  # input, hidden, output, or input and output (no hidden layer: nothing grows)
    fan_in_ratio: float  # fan_in / base_width for a dimension that grows with width, else 1
    fan_out_ratio: float
    init_std: float = 1.0  # multiplies the initializer's draw of the kernel
    kernel_rate: float = 1.0  # multiplies train.learning_rate for the kernel
    bias_rate: float = 1.0


def factors(config, n_features: int, n_outputs: int) -> list[LayerFactors]:
    """One LayerFactors per Dense layer (hidden_1 .. output): all 1 under the standard parametrization."""
    spec = config.model
    widths = [layer.units for layer in spec.hidden_layers()]
    depth = len(widths)
    fans = list(zip([n_features, *widths], [*widths, n_outputs]))
    out = []
    for i, (fan_in, fan_out) in enumerate(fans):
        grows_in, grows_out = 0 < i, i < depth  # the features and the outputs do not grow with width
        role = ("input and output" if depth == 0 else "input" if i == 0 else "output" if i == depth else "hidden")
        if spec.parametrization != "mup":
            out.append(LayerFactors(role, 1.0, 1.0))
            continue
        m_in = fan_in / spec.base_width if grows_in else 1.0
        m_out = fan_out / spec.base_width if grows_out else 1.0
        out.append(LayerFactors(role, m_in, m_out, *_table_3(role, m_in, m_out, config.train.optimizer.lower())))
    return out


def _table_3(role: str, m_in: float, m_out: float, optimizer: str) -> tuple[float, float, float]:
    """(init std factor, kernel rate factor, bias rate factor) of one layer; biases are the 'all biases' column,
    whose fan_out is the layer's units."""
    init_std = 1 / math.sqrt(m_in) if role == "output" else 1.0
    if optimizer == "sgd":
        kernel = {"input": m_out, "hidden": 1.0, "output": 1 / m_in}.get(role, 1.0)
        return init_std, kernel, m_out
    kernel = {"input": 1.0, "hidden": 1 / m_in, "output": 1 / m_in}.get(role, 1.0)  # adam, adamw
    return init_std, kernel, 1.0


def rates_by_variable(config, n_features: int, n_outputs: int, names: list[str]) -> dict[str, float]:
    """{'hidden_2/kernel': factor, ...} for the factors that are not 1 (names: the Dense layers' names)."""
    pairs = [(f"{name}/{part}", rate) for name, f in zip(names, factors(config, n_features, n_outputs))
             for part, rate in (("kernel", f.kernel_rate), ("bias", f.bias_rate))]
    return {key: rate for key, rate in pairs if rate != 1.0}
