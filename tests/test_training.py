"""Training: deterministic under a seed, and the saved model reloads to the same logits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from xaibench.datasets import make_dataset
from xaibench.models import MODELS, build_model, get_cam_layer, load_model, save_model
from xaibench.training import predict, train


@pytest.fixture(scope="module")
def tiny_set():
    return make_dataset("triangles_squares", seed=0, image_size=32, n_train=128, n_val=32, n_test=32)


def _train(dataset, seed):
    return train(dataset, "small_cnn", {"width": 4}, epochs=1, batch_size=32, lr=0.003, seed=seed)


def test_same_seed_same_weights(tiny_set):
    a, b, c = _train(tiny_set, 0), _train(tiny_set, 0), _train(tiny_set, 1)
    for (name, wa), wb in zip(a.model.state_dict().items(), b.model.state_dict().values(), strict=True):
        assert torch.equal(wa, wb), name
    assert any(
        not torch.equal(wa, wc)
        for wa, wc in zip(a.model.state_dict().values(), c.model.state_dict().values(), strict=True)
    )
    assert list(a.history.columns) == ["epoch", "train_loss", "val_loss", "train_acc", "val_acc"]
    assert 0.0 <= a.test_metrics["test_accuracy"] <= 1.0
    assert np.sum(a.test_metrics["confusion"]) == 32


def test_save_and_reload(tmp_path, tiny_set):
    result = _train(tiny_set, 0)
    path = tmp_path / "model.pt"
    save_model(str(path), result.model, result.spec)
    model = load_model(str(path))
    x = tiny_set.images[:8]
    np.testing.assert_allclose(
        predict(model, x, torch.device("cpu")), predict(result.model, x, torch.device("cpu"))
    )


def test_corrupt_weights_file_is_named(tmp_path):
    path = tmp_path / "broken.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"broken\.pt"):
        load_model(str(path))


@pytest.mark.parametrize("size", [16, 32, 64])
def test_small_cnn_shapes_and_cam_layer(size):
    model = build_model("small_cnn", in_channels=3, num_classes=5, image_size=size, width=4)
    assert model(torch.zeros(2, 3, size, size)).shape == (2, 5)
    assert isinstance(get_cam_layer(model), torch.nn.ReLU)
    # distinct activation modules (Captum's DeepLift refuses a reused ReLU)
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    assert len({id(m) for m in relus}) == len(relus)


def test_bad_model_params_are_named():
    with pytest.raises(ValueError, match="small_cnn"):
        build_model("small_cnn", in_channels=1, num_classes=2, image_size=32, depth=3)
    with pytest.raises(KeyError, match="small_cnn"):
        MODELS.get("resnet1000")
