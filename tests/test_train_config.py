"""TrainConfig: defaults, round trip, and one test per validation error."""

import dataclasses

import pytest

from crossent_jax.train import TrainConfig, optimizer_names


def test_defaults_are_the_documented_run():
    c = TrainConfig()
    assert (c.dataset, c.model, c.loss, c.optimizer) == (
        "mnist1d",
        "mlp",
        "softmax_cross_entropy",
        "adamw",
    )
    assert c.resolved_hidden_sizes == (256, 256)
    assert TrainConfig(model="cnn1d").resolved_hidden_sizes == (32, 32, 32)
    assert TrainConfig(model="linear").resolved_hidden_sizes == ()


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().epochs = 3


def test_dict_round_trip_and_list_hidden_sizes():
    c = TrainConfig(hidden_sizes=[8, 4], label_smoothing=0.1, checkpoint_dir="ck", resume=True)
    assert c.hidden_sizes == (8, 4)
    d = c.to_dict()
    assert d["hidden_sizes"] == [8, 4]
    assert TrainConfig.from_dict(d) == c


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['colour'\]"):
        TrainConfig.from_dict({"colour": "red"})


def test_optimizer_names():
    names = optimizer_names()
    for n in ("adamw", "adam", "sgd", "momentum", "nesterov", "lion", "rmsprop"):
        assert n in names
    # lbfgs needs the loss function in update; scale_by_* are building blocks
    assert "lbfgs" not in names
    assert not any(n.startswith("scale_by") for n in names)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"dataset": "cifar"}, ValueError, r"dataset must be one of mnist1d, digits, blobs; got 'cifar'"),
        ({"model": "resnet"}, ValueError, r"model must be one of linear, mlp, cnn1d; got 'resnet'"),
        ({"loss": "hinge"}, ValueError, r"loss must be one of .*; got 'hinge'"),
        ({"optimizer": "adamz"}, ValueError, r"optimizer must be one of .*adamw.*; got 'adamz'"),
        ({"optimizer": "lbfgs"}, ValueError, r"got 'lbfgs'"),
        ({"schedule": "step"}, ValueError, r"schedule must be one of constant, cosine, warmup_cosine; got 'step'"),
        ({"epochs": -1}, ValueError, r"epochs must be >= 0, got -1"),
        ({"epochs": 2.5}, TypeError, r"epochs must be an int, got float 2.5"),
        ({"batch_size": 0}, ValueError, r"batch_size must be >= 1, got 0"),
        ({"batch_size": True}, TypeError, r"batch_size must be an int, got bool"),
        ({"seed": -3}, ValueError, r"seed must be >= 0, got -3"),
        ({"learning_rate": 0.0}, ValueError, r"learning_rate must be in \(0.0, inf\), got 0.0"),
        ({"learning_rate": -1e-3}, ValueError, r"learning_rate must be in \(0.0, inf\), got -0.001"),
        ({"learning_rate": float("nan")}, ValueError, r"learning_rate must be in .*got nan"),
        ({"learning_rate": "fast"}, TypeError, r"learning_rate must be a number, got str 'fast'"),
        ({"label_smoothing": 1.5}, ValueError, r"label_smoothing must be in \[0.0, 1.0\], got 1.5"),
        ({"z_loss": -0.1}, ValueError, r"z_loss must be in \[0.0, inf\), got -0.1"),
        ({"weight_decay": -1.0}, ValueError, r"weight_decay must be in \[0.0, inf\), got -1.0"),
        ({"hidden_sizes": (8, 0)}, ValueError, r"every hidden size must be >= 1, got 0"),
        ({"hidden_sizes": "8,8"}, TypeError, r"hidden_sizes must be a tuple of ints or None, got '8,8'"),
        ({"model": "linear", "hidden_sizes": (8,)}, ValueError, r"model 'linear' has no hidden layers"),
        ({"model": "cnn1d", "hidden_sizes": ()}, ValueError, r"model 'cnn1d' needs at least one channel"),
        ({"loss": "mse", "label_smoothing": 0.1}, ValueError, r"label_smoothing is not defined for loss 'mse'"),
        ({"loss": "sigmoid", "z_loss": 0.1}, ValueError, r"z_loss applies to loss 'softmax_cross_entropy' only"),
        ({"checkpoint_dir": 3}, TypeError, r"checkpoint_dir must be a str or None, got int"),
        ({"checkpoint_dir": " "}, ValueError, r"checkpoint_dir must be a directory path, got an empty string"),
        ({"checkpoint_dir": __file__}, ValueError, r"checkpoint_dir '.*test_train_config.py' exists and is not a directory"),
        ({"seed": 2**32}, ValueError, r"seed must be <= 2\*\*32 - 1, got 4294967296"),
        ({"resume": "yes"}, TypeError, r"resume must be a bool, got 'yes'"),
        ({"resume": True}, ValueError, r"resume=True needs a checkpoint_dir, got None"),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else ",".join(map(str, v)),
)
def test_validation_errors(kwargs, err, match):
    with pytest.raises(err, match=match):
        TrainConfig(**kwargs)
