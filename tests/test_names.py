"""initlab/config/names.py against Keras itself: every activation, optimizer and loss name Keras's `get` accepts that a
user would write is accepted, nothing is accepted that Keras refuses, and the width and task rules say exactly
where Keras fails."""

import pytest
from keras.src import activations as keras_activations, losses as keras_losses, optimizers as keras_optimizers

from initlab.base.backend import keras as _keras
from initlab.config import names
from initlab.train import data as data_module, model as model_module

from tests.conftest import make_config

keras = _keras()


def test_activations_are_exactly_the_names_keras_gets():
    assert set(names.ACTIVATIONS) == set(keras_activations.ALL_OBJECTS_DICT)
    for name in names.ACTIVATIONS:
        assert callable(keras.activations.get(name)) and names.accepts("activation", name)
    assert not names.accepts("activation", "Relu")  # Keras matches activation names exactly


@pytest.mark.parametrize("name", names.ACTIVATIONS)
def test_an_activation_fails_on_the_widths_keras_fails_on_and_in_its_words(name):
    for units in (1, 2, 3, 4):
        problem = names.width_problem(name, units)
        try:
            keras.activations.get(name)(keras.ops.zeros((1, units)))
        except (ValueError, TypeError) as exc:
            assert problem is not None and problem.split(" (got")[0] in str(exc), (name, units, str(exc))
        else:
            assert problem is None, (name, units)


def _builds(name: str) -> bool:
    try:
        optimizer = keras.optimizers.get(name)
        optimizer.__class__(learning_rate=0.01)  # as model.compile gets it: the class with the config's rate
        return True
    except (ValueError, TypeError, KeyError):
        return False


def test_optimizers_are_the_ones_keras_builds_from_a_name_in_any_case():
    assert {name for name in keras_optimizers.ALL_OBJECTS_DICT if _builds(name)} == set(names.OPTIMIZERS)
    for name in names.OPTIMIZERS:
        for spelling in (name, name.upper(), name.title()):
            assert names.accepts("optimizer", spelling) and _builds(spelling), spelling
    assert not names.accepts("optimizer", "optimizer") and not _builds("optimizer")


def test_every_loss_keras_gets_is_accepted_or_refused_with_a_reason():
    accepted = {alias for name, (aliases, _) in names.LOSSES.items() for alias in (name, *aliases)}
    assert accepted | set(names.REFUSED_LOSSES) == set(keras_losses.ALL_OBJECTS_DICT)
    assert not accepted & set(names.REFUSED_LOSSES)
    for name in accepted:
        assert names.accepts("loss", name) and keras.losses.get(name) is not None, name
    for name in names.REFUSED_LOSSES:
        assert not names.accepts("loss", name)
    assert set(names.known("loss")) <= accepted


# initlab's three tasks on their real targets: one column (binary, regression) or integer labels against 3 outputs
TASK_DATA = {"binary": {"dataset": "ushape"}, "multiclass": {"dataset": "blobs", "centers": 3},
             "regression": {"dataset": "salary"}}


@pytest.fixture(scope="module")
def task_models():
    built = {}
    for task, data_config in TASK_DATA.items():
        config = model_module.with_task_defaults(make_config(data=data_config), task)
        data = data_module.load_dataset(config.data, config.seed)
        assert data.task == task
        model = model_module.build(config, data.n_features, data.task, data.n_classes)
        built[task] = (model, data.x_train[:20], data.y_train[:20])  # 20 rows: both classes, no shape coincidence
    return built


@pytest.mark.parametrize("loss", sorted(names.LOSSES))
def test_a_loss_runs_on_exactly_the_tasks_it_is_said_to_fit(loss, task_models):
    aliases, _ = names.LOSSES[loss]
    for task, (model, x, y) in task_models.items():
        model.compile(optimizer="sgd", loss=loss)
        try:
            model.compute_loss(y=y, y_pred=model(x))
            runs = True
        except Exception:  # noqa: BLE001 - Keras and TensorFlow raise several kinds for a shape that does not fit
            runs = False
        assert runs == (task in names.loss_tasks(loss)), (loss, task)
        assert all(names.loss_tasks(alias) == names.loss_tasks(loss) for alias in aliases)
