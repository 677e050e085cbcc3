"""A user's image folder: conversions, class order, masks, splits and errors that name the file or key."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from xaibench.datasets import DATASETS, load_dataset, make_dataset, save_dataset
from xaibench.datasets.image_folder import binarise_mask, image_folder

ALL_TRAIN = {"val_fraction": 0, "test_fraction": 0}  # no val/test split: every image in train


def _tif(path: Path, array: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array, **kwargs)
    return path


def _png(path: Path, array: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def _square(h: int, w: int, box: tuple[int, int, int, int], fg=255, bg=0, dtype=np.uint8) -> np.ndarray:
    """(h, w) image with value ``fg`` in rows box[0]:box[1], columns box[2]:box[3]."""
    a = np.full((h, w), bg, dtype=dtype)
    a[box[0] : box[1], box[2] : box[3]] = fg
    return a


@pytest.fixture
def mixed(tmp_path):
    """Two classes, every format and mode we promise to read, mixed sizes, a mask for every image."""
    root = tmp_path / "data"
    masks = root / "masks"
    # cat: grey PNG 32x32, RGB PNG 48x32 (other size), JPEG RGB 32x32
    box = (8, 24, 8, 24)
    _png(root / "cat/grey.png", _square(32, 32, box, fg=200, bg=20))
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, 100, 50
    _png(root / "cat/colour.png", rgb)
    _png(root / "cat/photo.jpg", np.stack([_square(32, 32, box, fg=240, bg=10)] * 3, -1), quality=95)
    # dog: 16-bit PNG, TIFF (uint8 RGB), RGBA PNG (alpha 0 everywhere), palette PNG, BMP
    _png(root / "dog/deep.png", np.full((32, 32), 32768, np.uint16))
    _tif(root / "dog/scan.tif", np.stack([_square(32, 32, box)] * 3, -1), photometric="rgb")
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    _png(root / "dog/alpha.png", rgba)
    Image.fromarray(_square(32, 32, box, fg=255, bg=0)).convert("P").save(root / "dog/palette.png")
    _png(root / "dog/bitmap.bmp", _square(32, 32, box, fg=128, bg=0))
    # masks: same relative paths (the JPEG's mask is a PNG with the same stem)
    for rel, (h, w) in {
        "cat/grey.png": (32, 32),
        "cat/colour.png": (32, 48),
        "cat/photo.png": (32, 32),
        "dog/deep.png": (32, 32),
        "dog/scan.png": (32, 32),
        "dog/alpha.png": (32, 32),
        "dog/palette.png": (32, 32),
        "dog/bitmap.png": (32, 32),
    }.items():
        _png(masks / rel, _square(h, w, box))
    return root


def _by_path(ds):
    return {str(p): i for i, p in enumerate(ds.params["path"])}


def test_registered():
    assert "image_folder" in DATASETS


def test_formats_channels_and_sizes(mixed):
    ds = image_folder(seed=0, root=str(mixed), image_size=16)
    idx = _by_path(ds)
    assert sorted(idx) == [
        "cat/colour.png",
        "cat/grey.png",
        "cat/photo.jpg",
        "dog/alpha.png",
        "dog/bitmap.bmp",
        "dog/deep.png",
        "dog/palette.png",
        "dog/scan.tif",
    ]
    assert ds.images.shape == (8, 3, 16, 16)  # auto: one colour image makes the set RGB
    assert ds.images.dtype == np.float32 and ds.labels.dtype == np.int64
    assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0
    assert ds.class_names == ["cat", "dog"]
    assert ds.labels[idx["cat/grey.png"]] == 0 and ds.labels[idx["dog/scan.tif"]] == 1
    # mixed sizes: resized, the stored size recorded
    k = idx["cat/colour.png"]
    assert (ds.params["source_height"][k], ds.params["source_width"][k]) == (32, 48)
    np.testing.assert_allclose(ds.images[k, :, 5, 5], [200 / 255, 100 / 255, 50 / 255], atol=1e-6)
    # grey replicated to three channels
    g = ds.images[idx["cat/grey.png"]]
    np.testing.assert_array_equal(g[0], g[1])
    np.testing.assert_allclose(g[0, 0, 0], 20 / 255, atol=1e-6)
    # 16-bit scaled by 65535; RGBA keeps its colour and drops alpha; palette expanded
    np.testing.assert_allclose(ds.images[idx["dog/deep.png"]], 32768 / 65535, atol=1e-6)
    np.testing.assert_allclose(
        ds.images[idx["dog/alpha.png"], :, 3, 3], [10 / 255, 20 / 255, 30 / 255], atol=1e-6
    )
    pal = ds.images[idx["dog/palette.png"]]
    assert pal[:, 8, 8].tolist() == [1.0, 1.0, 1.0] and pal[:, 0, 0].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(ds.images[idx["dog/bitmap.bmp"], 0, 8, 8], 128 / 255, atol=1e-6)
    assert ds.images[idx["dog/scan.tif"], 0, 8, 8] == 1.0


def test_channels_one_uses_luminance(mixed):
    ds = image_folder(seed=0, root=str(mixed), image_size=16, channels=1)
    assert ds.images.shape == (8, 1, 16, 16)
    k = _by_path(ds)["cat/colour.png"]
    np.testing.assert_allclose(
        ds.images[k, 0, 5, 5], (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255, atol=1e-6
    )


def test_auto_is_grey_when_every_image_is_grey(tmp_path):
    _png(tmp_path / "a/x.png", np.full((8, 8), 50, np.uint8))
    _png(tmp_path / "b/y.png", np.full((8, 8, 3), 70, np.uint8))  # RGB with equal channels counts as grey
    ds = image_folder(seed=0, root=str(tmp_path), image_size=8, **ALL_TRAIN)
    assert ds.images.shape == (2, 1, 8, 8)
    np.testing.assert_allclose(ds.images[1], 70 / 255, atol=1e-6)
    three = image_folder(seed=0, root=str(tmp_path), image_size=8, channels=3, **ALL_TRAIN)
    assert three.images.shape == (2, 3, 8, 8)


def test_sixteen_bit_and_float_tiff(tmp_path):
    _png(tmp_path / "a/low.png", np.full((8, 8), 1000, np.uint16))
    _tif(tmp_path / "a/deep.tif", np.full((8, 8), 65535, np.uint16))
    _tif(tmp_path / "b/unit.tif", np.full((8, 8), 0.25, np.float32))
    _tif(tmp_path / "b/planar.tif", np.full((3, 8, 8), 255, np.uint8), planarconfig="separate")
    ds = image_folder(seed=0, root=str(tmp_path), image_size=8, channels=1, **ALL_TRAIN)
    idx = _by_path(ds)
    np.testing.assert_allclose(ds.images[idx["a/low.png"]], 1000 / 65535, atol=1e-7)
    np.testing.assert_allclose(ds.images[idx["a/deep.tif"]], 1.0)
    np.testing.assert_allclose(ds.images[idx["b/unit.tif"]], 0.25)
    np.testing.assert_allclose(ds.images[idx["b/planar.tif"]], 1.0, atol=1e-6)


def test_masks_are_aligned_and_binary(mixed):
    ds = image_folder(seed=0, root=str(mixed), image_size=16)
    assert ds.masks is not None and ds.masks.shape == (8, 1, 16, 16) and ds.masks.dtype == bool
    idx = _by_path(ds)
    assert ds.params["mask_path"][idx["cat/photo.jpg"]] == "cat/photo.png"
    expected = np.zeros((16, 16), bool)
    expected[4:12, 4:12] = True  # the 32x32 box 8:24 halved
    for path in ("cat/grey.png", "cat/photo.jpg", "dog/scan.tif", "dog/bitmap.bmp"):
        k = idx[path]
        np.testing.assert_array_equal(ds.masks[k, 0], expected, err_msg=path)
        # the mask sits where the image is bright
        assert ds.images[k, 0][ds.masks[k, 0]].min() > ds.images[k, 0][~ds.masks[k, 0]].max()
    # the 48x32 image's mask is stretched with it: box at columns 8:24 of 48 -> 16 * 8/48 ...
    k = idx["cat/colour.png"]
    cols = np.flatnonzero(ds.masks[k, 0].any(axis=0))
    assert cols.min() >= 2 and cols.max() <= 8


def test_non_binary_masks_are_thresholded_at_mid_range(tmp_path):
    img = np.full((16, 16), 100, np.uint8)
    _png(tmp_path / "a/x.png", img)
    _png(tmp_path / "a/y.png", img)
    soft = np.zeros((16, 16), np.uint8)
    soft[:, 4:] = 100  # 100 < 127.5: background
    soft[:, 8:] = 200  # foreground
    _png(tmp_path / "masks/a/x.png", soft)
    _png(tmp_path / "masks/a/y.png", _square(16, 16, (0, 16, 0, 8), fg=1))  # 0/1 coding
    ds = image_folder(seed=0, root=str(tmp_path), image_size=16, **ALL_TRAIN)
    idx = _by_path(ds)
    np.testing.assert_array_equal(ds.masks[idx["a/x.png"], 0].any(axis=0), np.arange(16) >= 8)
    np.testing.assert_array_equal(ds.masks[idx["a/y.png"], 0].any(axis=0), np.arange(16) < 8)
    mask, non_binary = binarise_mask(np.full((4, 4), 255, np.uint8))
    assert mask.all() and not non_binary
    mask, non_binary = binarise_mask(np.zeros((4, 4), np.uint8))
    assert not mask.any() and not non_binary
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2, :, 0] = 255  # red-on-black mask
    assert binarise_mask(rgb)[0][:, 0].tolist() == [True, True, False, False]


def test_mask_root_and_suffix(tmp_path):
    root, mroot = tmp_path / "images", tmp_path / "segmentations"
    for name in ("ISIC_1", "ISIC_2"):
        _png(root / "lesion" / f"{name}.jpg", np.full((12, 12, 3), 90, np.uint8))
        _png(mroot / "lesion" / f"{name}_segmentation.png", _square(12, 12, (0, 6, 0, 12)))
    ds = image_folder(
        seed=0,
        root=str(root),
        mask_root=str(mroot),
        mask_suffix="_segmentation",
        image_size=12,
        val_fraction=0,
        test_fraction=0,
    )
    assert ds.masks[:, 0, :6].all() and not ds.masks[:, 0, 6:].any()
    assert ds.params["mask_path"].tolist() == [
        "lesion/ISIC_1_segmentation.png",
        "lesion/ISIC_2_segmentation.png",
    ]
    assert image_folder(seed=0, root=str(root), image_size=12, **ALL_TRAIN).masks is None
    no_masks = image_folder(
        seed=0,
        root=str(root),
        mask_root=str(mroot),
        masks=False,
        image_size=12,
        val_fraction=0,
        test_fraction=0,
    )
    assert no_masks.masks is None


def test_class_order(mixed):
    ds = image_folder(seed=0, root=str(mixed), image_size=8, classes=["dog", "cat"])
    assert ds.class_names == ["dog", "cat"]
    idx = _by_path(ds)
    assert ds.labels[idx["dog/scan.tif"]] == 0 and ds.labels[idx["cat/grey.png"]] == 1
    only = image_folder(seed=0, root=str(mixed), image_size=8, classes=["dog"])
    assert only.class_names == ["dog"] and len(only.labels) == 5
    with pytest.raises(ValueError, match=r"'bird'.*bird"):
        image_folder(seed=0, root=str(mixed), classes=["cat", "bird"])


def test_fit_crop_and_pad(tmp_path):
    wide = np.zeros((10, 30), np.uint8)
    wide[:, 10:20] = 255  # the centre third is bright
    _png(tmp_path / "a/wide.png", wide)
    crop = image_folder(seed=0, root=str(tmp_path), image_size=10, fit="crop", **ALL_TRAIN)
    np.testing.assert_allclose(crop.images[0, 0], 1.0)  # centre 10x10 crop: all bright
    pad = image_folder(seed=0, root=str(tmp_path), image_size=30, fit="pad", **ALL_TRAIN)
    assert pad.images[0, 0, :10].max() == 0 and pad.images[0, 0, 15, 15] == 1.0  # padded rows above


def test_split_stratified_and_deterministic(tmp_path):
    for cls, n in (("a", 20), ("b", 10)):
        for i in range(n):
            _png(tmp_path / cls / f"{i:02d}.png", np.full((4, 4), i * 10, np.uint8))
    ds = image_folder(seed=3, root=str(tmp_path), image_size=4)
    for cls, n in ((0, 20), (1, 10)):
        s = ds.split[ds.labels == cls]
        assert [(s == k).sum() for k in (1, 2)] == [round(0.1 * n), round(0.2 * n)]
    again = image_folder(seed=3, root=str(tmp_path), image_size=4)
    np.testing.assert_array_equal(again.split, ds.split)
    np.testing.assert_array_equal(again.images, ds.images)
    assert not np.array_equal(image_folder(seed=4, root=str(tmp_path), image_size=4).split, ds.split)
    sub = image_folder(seed=3, root=str(tmp_path), image_size=4, max_per_class=5)
    assert np.bincount(sub.labels).tolist() == [5, 5]
    np.testing.assert_array_equal(
        sub.params["path"],
        image_folder(seed=3, root=str(tmp_path), image_size=4, max_per_class=5).params["path"],
    )


def test_extensions_hidden_files_and_recursion(tmp_path):
    _png(tmp_path / "a/x.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "a/.hidden.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "a/sub/deep.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "a/notes.txt").write_text("not an image")
    _png(tmp_path / "b/y.bmp", np.zeros((4, 4), np.uint8))
    ds = image_folder(seed=0, root=str(tmp_path), image_size=4, **ALL_TRAIN)
    assert ds.params["path"].tolist() == ["a/x.png", "b/y.bmp"]
    rec = image_folder(seed=0, root=str(tmp_path), image_size=4, recursive=True, **ALL_TRAIN)
    assert rec.params["path"].tolist() == ["a/sub/deep.png", "a/x.png", "b/y.bmp"]
    with pytest.raises(ValueError, match=r"class folder .*b has no images"):
        image_folder(seed=0, root=str(tmp_path), image_size=4, extensions=["PNG"])


def test_round_trip_through_the_registry(mixed, tmp_path):
    ds = make_dataset("image_folder", seed=1, root=str(mixed), image_size=8)
    save_dataset(tmp_path / "out.npz", ds)
    back = load_dataset(str(tmp_path / "out.npz"))
    np.testing.assert_array_equal(back.images, ds.images)
    np.testing.assert_array_equal(back.masks, ds.masks)
    assert back.params["path"].tolist() == ds.params["path"].tolist()


# ------------------------------------------------------------------------------------------------- errors


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "nowhere")):
        image_folder(seed=0, root=str(tmp_path / "nowhere"))


def test_no_class_folders(tmp_path):
    _png(tmp_path / "loose.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match=f"no class folders in image_folder root {tmp_path}"):
        image_folder(seed=0, root=str(tmp_path))


def test_empty_class(tmp_path, caplog):
    _png(tmp_path / "a/x.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "c/z.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match=f"class folder {tmp_path / 'b'} has no images"):
        image_folder(seed=0, root=str(tmp_path))
    with caplog.at_level(logging.WARNING):
        ds = image_folder(seed=0, root=str(tmp_path), image_size=4, allow_empty_classes=True, **ALL_TRAIN)
    assert ds.class_names == ["a", "c"] and ds.labels.tolist() == [0, 1]
    assert str(tmp_path / "b") in caplog.text


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_unreadable_file(tmp_path, caplog):
    _png(tmp_path / "a/good.png", np.zeros((4, 4), np.uint8))
    _png(tmp_path / "b/good.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "b/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (tmp_path / "b/broken.tif").write_bytes(b"II*\x00garbage")
    truncated = tmp_path / "b/cut.jpg"
    _png(truncated, np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(ValueError, match=str(tmp_path / "b/broken.png")):
        image_folder(seed=0, root=str(tmp_path))
    with caplog.at_level(logging.WARNING):
        ds = image_folder(seed=0, root=str(tmp_path), image_size=4, skip_unreadable=True, **ALL_TRAIN)
    assert ds.params["path"].tolist() == ["a/good.png", "b/good.png"]
    for name in ("broken.png", "broken.tif", "cut.jpg"):
        assert str(tmp_path / "b" / name) in caplog.text


def test_class_left_without_readable_images(tmp_path):
    _png(tmp_path / "a/good.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "b").mkdir()
    (tmp_path / "b/broken.png").write_bytes(b"nothing")
    with pytest.raises(ValueError, match=r"class 'b'.*no readable images"):
        image_folder(seed=0, root=str(tmp_path), skip_unreadable=True)


def test_mask_size_mismatch(tmp_path):
    _png(tmp_path / "a/x.png", np.zeros((20, 20), np.uint8))
    _png(tmp_path / "masks/a/x.png", _square(10, 10, (0, 5, 0, 10)))
    with pytest.raises(ValueError, match=r"mask .*masks/a/x\.png is 10x10 .* image .*a/x\.png is 20x20"):
        image_folder(seed=0, root=str(tmp_path))
    ds = image_folder(seed=0, root=str(tmp_path), image_size=20, resize_masks=True, **ALL_TRAIN)
    assert ds.masks[0, 0, :10].all() and not ds.masks[0, 0, 10:].any()


def test_missing_mask(tmp_path):
    _png(tmp_path / "a/x.png", np.zeros((8, 8), np.uint8))
    _png(tmp_path / "a/y.png", np.zeros((8, 8), np.uint8))
    _png(tmp_path / "masks/a/x.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(FileNotFoundError, match=r"no mask for image .*a/y\.png: looked for .*masks/a/y\.png"):
        image_folder(seed=0, root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="mask_root"):
        image_folder(seed=0, root=str(tmp_path), mask_root=str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError, match="masks: true"):
        image_folder(seed=0, root=str(tmp_path / "a"), masks=True)


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"channels": 2}, "channels"),
        ({"image_size": 0}, "image_size"),
        ({"fit": "squash"}, "fit"),
        ({"val_fraction": 0.6, "test_fraction": 0.6}, "val_fraction"),
        ({"extensions": []}, "extensions"),
        ({"classes": "cat"}, "classes"),
        ({"max_per_class": 0}, "max_per_class"),
    ],
)
def test_bad_parameters_name_the_key(mixed, params, key):
    with pytest.raises(ValueError, match=key):
        image_folder(seed=0, root=str(mixed), **params)
