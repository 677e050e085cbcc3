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
    # The reported test accuracy and confusion matrix are those of the returned model on the test split.
    from sklearn.metrics import confusion_matrix

    test = tiny_set.indices("test")
    with torch.no_grad():
        predicted = a.model.eval()(torch.from_numpy(tiny_set.images[test])).argmax(1).numpy()
    labels = tiny_set.labels[test]
    assert a.test_metrics["test_accuracy"] == pytest.approx(float((predicted == labels).mean()), abs=1e-12)
    assert a.test_metrics["confusion"] == confusion_matrix(labels, predicted, labels=[0, 1]).tolist()
    assert a.test_metrics["n_test"] == 32


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
    # Distinct activation modules (Captum's DeepLift refuses a reused ReLU): every ReLU call of a forward pass
    # is a different module. (model.modules() lists a reused module once, so counting modules cannot tell.)
    calls: list[int] = []
    hooks = [
        m.register_forward_hook(lambda module, _i, _o: calls.append(id(module)))
        for m in model.modules()
        if isinstance(m, torch.nn.ReLU)
    ]
    model(torch.zeros(1, 3, size, size))
    for hook in hooks:
        hook.remove()
    n_convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert len(calls) == n_convs and len(set(calls)) == len(calls)  # one ReLU per conv, each used once


def test_bad_model_params_are_named():
    with pytest.raises(ValueError, match="small_cnn"):
        build_model("small_cnn", in_channels=1, num_classes=2, image_size=32, depth=3)
    with pytest.raises(KeyError, match="small_cnn"):
        MODELS.get("resnet1000")


def test_conv_weights_are_channels_last_and_stay_so_through_training_and_reload(tmp_path, tiny_set):
    """build_model stores 2-D convolution weights channels-last (oneDNN's faster NHWC kernels; see
    ``tools/benchmark.py layout``); training, saving and loading keep the layout, and the function is the
    default layout's up to float rounding. Other weights (1-D convolutions, linear layers) are untouched."""

    def layouts(model):  # strides, not is_contiguous: a one-channel kernel is contiguous in both layouts
        return {
            name: p.stride() == p.contiguous(memory_format=torch.channels_last).stride()
            for name, p in model.named_parameters()
            if p.ndim == 4
        }

    model = build_model("small_cnn", in_channels=1, num_classes=2, image_size=32, width=4)
    assert layouts(model) and all(layouts(model).values())
    result = _train(tiny_set, 0)
    path = tmp_path / "model.pt"
    save_model(str(path), result.model, result.spec)
    reloaded = load_model(str(path))
    assert all(layouts(result.model).values()) and all(layouts(reloaded).values())
    nchw = build_model("small_cnn", in_channels=1, num_classes=2, image_size=32, width=4)
    nchw.load_state_dict(reloaded.state_dict())
    nchw = nchw.to(memory_format=torch.contiguous_format).eval()
    assert not any(v for name, v in layouts(nchw).items() if name != "features.0.weight")  # (1 in-channel)
    x = torch.from_numpy(tiny_set.images[:16])
    with torch.no_grad():
        ours, reference = reloaded(x), nchw(x)
    spread = reference.abs().max().item()
    assert spread > 0.1 and (ours - reference).abs().max().item() < 1e-5 * spread
    series = build_model("cnn1d", in_channels=1, num_classes=2, image_size=64, width=4)
    assert all(p.is_contiguous() for p in series.parameters())
