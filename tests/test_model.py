"""The model a config describes."""

import numpy as np

from initlab.base.backend import keras as _keras
from initlab.train import model as model_module

from tests.conftest import make_config


def _build(config, n_features=2, task="binary", n_classes=2):
    return model_module.build(model_module.with_task_defaults(config, task), n_features, task, n_classes)


def test_layer_names_are_stable_whatever_ran_before():
    keras = _keras()
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])  # takes dense, dense_1
    model = _build(make_config(model={"hidden": [4, 3]}))
    assert [layer.name for layer in model.layers] == ["hidden_1", "hidden_2", "output"]
    assert list(model_module.weights_by_name(model)) == [
        "hidden_1/kernel", "hidden_1/bias", "hidden_2/kernel", "hidden_2/bias", "output/kernel", "output/bias"]


def test_layers_of_one_shape_get_different_values():
    model = _build(make_config(model={"hidden": [5, 5, 5], "kernel_initializer": "he_normal"}))
    k2, k3 = model.layers[1].kernel.numpy(), model.layers[2].kernel.numpy()
    assert not np.allclose(k2, k3)


def test_same_seed_same_model_other_seed_other_model():
    a = _build(make_config(seed=3, model={"hidden": [4]})).get_weights()
    b = _build(make_config(seed=3, model={"hidden": [4]})).get_weights()
    c = _build(make_config(seed=4, model={"hidden": [4]})).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_set_weights_overwrites_kernels_and_biases():
    model = _build(make_config(model={"hidden": [2], "set_weights": 0.5}))
    assert all(np.all(w == 0.5) for w in model.get_weights())


def test_per_layer_list_overrides_model_keys():
    config = make_config(model={"layers": [{"units": 3, "activation": "tanh", "kernel_initializer": "zeros"}, {"units": 2}],
                                "activation": "relu", "kernel_initializer": "ones"})
    model = _build(config)
    assert config.model.hidden == [3, 2]
    assert [layer.activation.__name__ for layer in model.layers] == ["tanh", "relu", "sigmoid"]
    assert np.all(model.layers[0].kernel.numpy() == 0) and np.all(model.layers[1].kernel.numpy() == 1)


def test_task_defaults():
    for task, classes, activation, loss, units in [("binary", 2, "sigmoid", "binary_crossentropy", 1),
                                                    ("multiclass", 4, "softmax", "sparse_categorical_crossentropy", 4),
                                                    ("regression", 0, "linear", "mean_squared_error", 1)]:
        config = model_module.with_task_defaults(make_config(model={"output_activation": None}), task)
        assert (config.model.output_activation, config.train.loss) == (activation, loss)
        assert _build(config, task=task, n_classes=classes).layers[-1].units == units


def test_no_hidden_layer_is_logistic_regression():
    model = _build(make_config(model={"hidden": []}))
    assert [layer.name for layer in model.layers] == ["output"]
