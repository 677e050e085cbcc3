"""torchvision architectures (xaibench.models.torchvision_models): shapes, stems, CAM layers, weights files,
last-layer fine-tuning, and the explainability-friendly rewrites (distinct, non-inplace activations) being
exact."""

from __future__ import annotations

import copy
import logging
import pickle

import numpy as np
import pytest
import torch
from torch import nn
from workflow_cli import fresh_python

import xaibench.models.torchvision_models as mt
from xaibench.datasets import ImageDataset
from xaibench.models import MODELS, build_model, get_cam_layer, load_model, save_model
from xaibench.training import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")


ARCHS = ["resnet18", "resnet50", "densenet121", "efficientnet_b0"]
CLASSIFIER = {
    "resnet18": "fc",
    "resnet50": "fc",
    "densenet121": "classifier",
    "efficientnet_b0": "classifier",
}


def _build(arch, in_channels=1, num_classes=2, image_size=32, seed=0, **params):
    torch.manual_seed(seed)
    return build_model(
        arch, in_channels=in_channels, num_classes=num_classes, image_size=image_size, **params
    )


def _first_conv(model, arch):
    return model.get_submodule(mt.first_conv_name(arch))


def test_registered():
    assert set(mt.TORCHVISION_MODELS) == set(ARCHS)
    assert set(ARCHS) <= set(MODELS.names())


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize(("in_channels", "image_size", "num_classes"), [(1, 32, 2), (3, 64, 5)])
def test_shapes_and_cam_layer(arch, in_channels, image_size, num_classes):
    model = _build(arch, in_channels, num_classes, image_size).eval()
    feature_maps = []
    handle = get_cam_layer(model).register_forward_hook(lambda _m, _i, out: feature_maps.append(out))
    with torch.no_grad():
        logits = model(torch.rand(2, in_channels, image_size, image_size))
    handle.remove()
    assert logits.shape == (2, num_classes)
    assert torch.isfinite(logits).all()
    (cam,) = feature_maps
    # the CIFAR-style stem (auto below 96 px) reduces the input 8x: 32 -> 4x4, 64 -> 8x8
    assert cam.ndim == 4 and cam.shape[0] == 2 and cam.shape[2:] == (image_size // 8, image_size // 8)
    assert _first_conv(model, arch).in_channels == in_channels
    head = [m for m in model.get_submodule(CLASSIFIER[arch]).modules() if isinstance(m, nn.Linear)]
    assert len(head) == 1 and head[0].out_features == num_classes


@pytest.mark.parametrize("arch", ARCHS)
def test_small_input_stem(arch):
    def stride(model):
        return _first_conv(model, arch).stride[0]

    small = _build(arch, image_size=32)
    assert stride(small) == 1 and _first_conv(small, arch).kernel_size == (3, 3)
    assert stride(_build(arch, image_size=32, small_input=False)) == 2
    large = _build(arch, in_channels=3, image_size=128)
    assert stride(large) == 2
    assert stride(_build(arch, in_channels=3, image_size=128, small_input=True)) == 1
    if arch.startswith(("resnet", "densenet")):
        pool = small.maxpool if arch.startswith("resnet") else small.features.pool0
        assert isinstance(pool, nn.Identity)
        pool = large.maxpool if arch.startswith("resnet") else large.features.pool0
        assert isinstance(pool, nn.MaxPool2d)
        assert _first_conv(large, arch).kernel_size == (7, 7)
    with pytest.raises(ValueError, match="small_input"):
        _build(arch, small_input="sometimes")
    with pytest.raises(ValueError, match="finetune"):
        _build(arch, finetune="middle")


@pytest.mark.parametrize("arch", ARCHS)
def test_same_function_and_keys_as_torchvision(arch):
    """The rewrites (distinct non-inplace activations, module-based DenseNet head) change nothing else: a
    torchvision model with our weights gives the same logits, and torchvision state_dicts load as they are."""
    import torchvision

    ours = _build(arch, in_channels=3, num_classes=4, image_size=128).eval()
    reference = getattr(torchvision.models, arch)(weights=None, num_classes=4).eval()
    reference.load_state_dict(ours.state_dict())  # strict: same keys and shapes
    # build_model stores 4-D weights channels-last (oneDNN's faster NHWC kernels): the same layout here, so
    # that both run the same kernels and equal logits are exactly equal
    reference = reference.to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, 32, 32)  # the ImageNet stem: 32x32 -> 1x1 feature maps, cheap
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=0)


@pytest.mark.parametrize("arch", ARCHS)
def test_activations_distinct_and_not_inplace(arch):
    model = _build(arch, image_size=16).eval()
    assert not [name for name, m in model.named_modules() if getattr(m, "inplace", False)]
    calls: dict[str, int] = {}
    handles = [
        m.register_forward_hook(lambda *_a, name=name: calls.__setitem__(name, calls.get(name, 0) + 1))
        for name, m in model.named_modules()
        if isinstance(m, nn.ReLU | nn.SiLU | nn.Sigmoid)
    ]
    with torch.no_grad():
        model(torch.rand(1, 1, 16, 16))
    for handle in handles:
        handle.remove()
    assert calls and max(calls.values()) == 1  # every activation module is used once (Captum's DeepLift)


def _tiny_dataset(n_train=16, size=8):
    rng = np.random.default_rng(0)
    n = n_train + 8
    images = rng.random((n, 1, size, size), dtype=np.float32)
    labels = rng.integers(0, 2, n)
    images[labels == 1, :, 2:6, 2:6] += 0.5
    split = np.repeat(np.arange(3, dtype=np.int8), [n_train, 4, 4])
    return ImageDataset(images=images, labels=labels, split=split, class_names=["a", "b"])


def test_last_layer_finetuning_changes_only_the_classifier(tmp_path):
    """Seed 003 style: with finetune="last_layer" a training step (Adam, weight decay on) moves only the
    classifier; the frozen body keeps its weights and its BatchNorm statistics."""
    dataset = _tiny_dataset()
    start = tmp_path / "start.pt"
    torch.save(_build("resnet18", image_size=8, seed=3).state_dict(), start)
    params = {"weights": str(start), "finetune": "last_layer"}
    model = _build("resnet18", image_size=8, **params)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}
    model.train()
    assert model.fc.training and not model.layer1.training and not model.bn1.training

    result = train(dataset, "resnet18", params, epochs=1, batch_size=8, lr=0.01, weight_decay=0.1, seed=0)
    before = torch.load(start, weights_only=True)
    after = result.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"fc.weight", "fc.bias"}

    # finetune="all" (the default) trains everything, BatchNorm statistics included
    full = _build("resnet18", image_size=8, weights=str(start)).train()
    assert all(p.requires_grad for p in full.parameters())
    assert all(m.training for m in full.modules())


@pytest.mark.parametrize("arch", ARCHS)
def test_weights_file_skips_mismatching_head(arch, tmp_path, caplog):
    source = _build(arch, in_channels=1, num_classes=2, seed=1)
    path = tmp_path / "source.pt"
    torch.save(source.state_dict(), path)
    with caplog.at_level(logging.INFO, logger="xaibench.models.torchvision_models"):
        model = _build(arch, in_channels=1, num_classes=5, seed=2, weights=str(path))
    head = CLASSIFIER[arch]
    loaded = model.state_dict()
    for key, value in source.state_dict().items():
        if key.startswith(head + "."):
            assert loaded[key].shape[0] == 5  # fresh 5-class head
        else:
            assert torch.equal(loaded[key], value), key  # the body comes from the file
    assert "kept the fresh initialisation" in caplog.text and head in caplog.text

    # another channel count: the first convolution is skipped as well, the rest still loads
    rgb = _build(arch, in_channels=3, num_classes=2, seed=2, weights=str(path))
    first = mt.first_conv_name(arch) + ".weight"
    assert rgb.state_dict()[first].shape[1] == 3
    later = [k for k in loaded if not k.startswith((head + ".", mt.first_conv_name(arch) + "."))][-1]
    assert torch.equal(rgb.state_dict()[later], source.state_dict()[later])


def test_weights_file_errors(tmp_path):
    with pytest.raises(ValueError, match=r"nowhere\.pt"):
        _build("resnet18", weights=str(tmp_path / "nowhere.pt"))
    torch.save(_build("resnet50").state_dict(), tmp_path / "r50.pt")
    with pytest.raises(ValueError, match=r"r50\.pt.*does not fit resnet18"):
        _build("resnet18", weights=str(tmp_path / "r50.pt"))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"junk\.pt"):
        _build("resnet18", weights=str(tmp_path / "junk.pt"))


def test_weights_from_an_xaibench_checkpoint_and_reload(tmp_path):
    """A model.pt written by save_model can seed fine-tuning, and a fine-tuned model reloads exactly, without
    the file it was fine-tuned from (that file is an input of training only)."""
    source = _build("efficientnet_b0", seed=4)
    spec = {"name": "efficientnet_b0", "shape": {"in_channels": 1, "num_classes": 2, "image_size": 32}}
    save_model(str(tmp_path / "a.pt"), source, spec)
    params = {"weights": str(tmp_path / "a.pt"), "finetune": "last_layer"}
    model = _build("efficientnet_b0", seed=5, **params).eval()
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    save_model(str(tmp_path / "b.pt"), model, {**spec, "params": params})
    (tmp_path / "a.pt").unlink()
    again = load_model(str(tmp_path / "b.pt"))
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)
    assert {n for n, p in again.named_parameters() if p.requires_grad} == {
        "classifier.1.weight",
        "classifier.1.bias",
    }


def test_deepcopy_and_pickle():
    model = _build("resnet18", image_size=16).eval()
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        expected = model(x)
        for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
            torch.testing.assert_close(clone(x), expected, rtol=0, atol=0)
            assert clone.cam_layer_name == "layer4"


def test_torchvision_is_imported_lazily():
    code = (
        "import sys, xaibench.models.torchvision_models as mt; from xaibench.models import build_model; "
        "assert 'torchvision' not in sys.modules; "
        "build_model('resnet18', in_channels=1, num_classes=2, image_size=32); "
        "assert 'torchvision' in sys.modules"
    )
    fresh_python(code)
