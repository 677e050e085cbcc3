"""The dataset core: :class:`ImageDataset`, split helpers, the generator registry and ``.npz`` storage.

A generator/reader (registered with :func:`register`) turns config parameters into an :class:`ImageDataset`.
Every dataset, whatever its source, is stored in one ``.npz`` with the same keys (see
:func:`ImageDataset.to_arrays`), so the stages downstream never special-case a domain.

Dataset modules import from here (``xaibench.datasets.core``), never from the package ``xaibench.datasets``,
which only re-exports these names and imports the built-in dataset modules so that they register.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from xaibench.registry import Registry

SPLITS = ("train", "val", "test")


MODALITIES = ("image", "series", "table")


@dataclass
class ImageDataset:
    """Samples as 4-D float32 arrays in [0, 1], integer labels, optional masks and per-sample parameters.

    One layout for every modality, so that the stages downstream (which work on 4-D arrays) never
    special-case one:

    * ``"image"``: images (N, C, H, W), masks (N, 1, H, W);
    * ``"series"``: C variables (channels) of length L as images (N, C, 1, L), masks (N, 1, 1, L);
    * ``"table"``: F features as images (N, 1, 1, F), masks (N, 1, 1, F).

    ``feature_names`` (optional) names the variables: the F columns of a table, the C channels of a series
    or an image.
    """

    images: np.ndarray
    labels: np.ndarray
    split: np.ndarray  # int8: 0 train, 1 val, 2 test
    class_names: list[str]
    masks: np.ndarray | None = None  # (N, 1, H, W) bool, ground-truth object region
    params: dict[str, np.ndarray] = field(default_factory=dict)  # per-sample generating parameters
    modality: str = "image"  # one of MODALITIES
    feature_names: list[str] | None = None  # table: the F columns; series/image: the C channels

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {self.images.shape}")
        if len(self.labels) != n or len(self.split) != n:
            raise ValueError("images, labels and split must have the same length")
        if self.masks is not None and self.masks.shape != (n, 1, *self.images.shape[2:]):
            raise ValueError(f"masks must be (N, 1, H, W), got {self.masks.shape}")
        for key, value in self.params.items():
            if len(value) != n:
                raise ValueError(f"parameter {key!r} has {len(value)} values for {n} samples")
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {list(MODALITIES)}, got {self.modality!r}")
        _, c, h, w = self.images.shape
        if self.modality in ("series", "table") and h != 1:
            raise ValueError(f"a {self.modality} dataset needs images (N, C, 1, L), got {self.images.shape}")
        if self.modality == "table" and c != 1:
            raise ValueError(f"a table dataset needs images (N, 1, 1, F), got {self.images.shape}")
        if self.feature_names is not None:
            self.feature_names = [str(name) for name in self.feature_names]
            expected, axis = (w, "features") if self.modality == "table" else (c, "channels")
            if len(self.feature_names) != expected:
                raise ValueError(
                    f"feature_names has {len(self.feature_names)} names for {expected} {axis} "
                    f"of a {self.modality} dataset"
                )

    @property
    def shape(self) -> dict[str, int]:
        """Model-building shape: in_channels, image_size, num_classes.

        ``image_size`` is the side of a square image, the length L of a series, the number F of features
        of a table (model builders receive it under that name); ``in_channels`` is C (1 for a table).
        """
        _, c, h, w = self.images.shape
        if self.modality != "image":
            return {"in_channels": c, "image_size": w, "num_classes": len(self.class_names)}
        if h != w:
            raise ValueError(f"square images expected, got {h}x{w}")
        return {"in_channels": c, "image_size": h, "num_classes": len(self.class_names)}

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == SPLITS.index(split))

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "images": self.images.astype(np.float32),
            "labels": self.labels.astype(np.int64),
            "split": self.split.astype(np.int8),
            "class_names": np.asarray(self.class_names, dtype=str),
            "modality": np.asarray(self.modality, dtype=str),
        }
        if self.masks is not None:
            arrays["masks"] = self.masks.astype(bool)
        if self.feature_names is not None:
            arrays["feature_names"] = np.asarray(self.feature_names, dtype=str)
        arrays.update({f"param_{k}": v for k, v in self.params.items()})
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ImageDataset:
        """Inverse of :meth:`to_arrays`; files written before ``modality`` existed load as images."""
        names = arrays.get("feature_names")
        return cls(
            images=arrays["images"],
            labels=arrays["labels"],
            split=arrays["split"],
            class_names=[str(c) for c in arrays["class_names"]],
            masks=arrays.get("masks"),
            params={k[6:]: v for k, v in arrays.items() if k.startswith("param_")},
            modality=str(arrays["modality"]) if "modality" in arrays else "image",
            feature_names=None if names is None else [str(f) for f in names],
        )


def split_sizes(n_train: int, n_val: int, n_test: int) -> list[int]:
    """Validated split sizes: non-negative integers, not all zero; errors name the key."""
    sizes = []
    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if int(value) != value or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        sizes.append(int(value))
    if sum(sizes) == 0:
        raise ValueError("n_train + n_val + n_test must be > 0")
    return sizes


def split_labels(n_train: int, n_val: int, n_test: int) -> np.ndarray:
    """Split codes for consecutive blocks of samples (the samples themselves are i.i.d.)."""
    return np.repeat(np.arange(3, dtype=np.int8), [n_train, n_val, n_test])


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Both fractions in [0, 1) with a non-empty train share; errors name the key."""
    for key, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{key} must be in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1 (a train split is needed), "
            f"got {val_fraction} + {test_fraction}"
        )


def stratified_split(
    labels: np.ndarray, val_fraction: float, test_fraction: float, seed: int | np.random.Generator
) -> np.ndarray:
    """Split codes (int8: 0 train, 1 val, 2 test), stratified by label and seeded.

    Classes are visited in increasing label order; within class c (n_c samples) a seeded permutation
    assigns ``round(test_fraction * n_c)`` samples to test, ``round(val_fraction * n_c)`` to val, the rest
    to train, so every split holds (up to rounding) the same class proportions. A class too small for
    its share (e.g. 3 samples at 0.1) contributes only to train.
    """
    check_fractions(val_fraction, test_fraction)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    labels = np.asarray(labels)
    split = np.zeros(len(labels), dtype=np.int8)
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_test = round(test_fraction * len(idx))
        n_val = min(round(val_fraction * len(idx)), len(idx) - n_test)
        split[idx[:n_test]] = 2
        split[idx[n_test : n_test + n_val]] = 1
    return split


def checked_image_size(image_size: int, minimum: int) -> int:
    """``image_size`` as an int; an error naming the key unless it is an integer >= ``minimum``."""
    if int(image_size) != image_size or image_size < minimum:
        raise ValueError(f"image_size must be an integer >= {minimum}, got {image_size!r}")
    return int(image_size)


def grey_levels(n: int, min_contrast: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Foreground and background grey levels of ``n`` images, each ~ U(0, 1), the pairs with
    |fg - bg| < ``min_contrast`` redrawn (only those: deterministic under the seed)."""
    fg = rng.uniform(0.0, 1.0, size=n)
    bg = rng.uniform(0.0, 1.0, size=n)
    low = np.abs(fg - bg) < min_contrast
    while low.any():
        fg[low] = rng.uniform(0.0, 1.0, size=low.sum())
        bg[low] = rng.uniform(0.0, 1.0, size=low.sum())
        low = np.abs(fg - bg) < min_contrast
    return fg, bg


Generator = Callable[..., ImageDataset]
DATASETS: Registry[Generator] = Registry("dataset generator")
_MODALITY: dict[str, str] = {}  # generator -> the modality of the datasets it makes


def register(name: str, modality: str = "image") -> Callable[[Generator], Generator]:
    """Decorator storing generator ``fn(seed, **params) -> ImageDataset`` as ``name`` in ``DATASETS``; its
    datasets are of ``modality`` (one of :data:`MODALITIES`), which the workflow reads before any data exist
    (to pair datasets with the models that take them)."""
    if modality not in MODALITIES:
        raise ValueError(
            f"dataset generator {name!r}: modality must be one of {MODALITIES}, got {modality!r}"
        )
    decorator = DATASETS.register(name)
    _MODALITY[name] = modality
    return decorator


def generator_modality(generator: str) -> str:
    """The modality of the datasets ``generator`` makes (an unknown generator lists the known ones)."""
    DATASETS.get(generator)
    return _MODALITY[generator]


def make_dataset(generator: str, seed: int, **params: Any) -> ImageDataset:
    """Run registry entry ``generator`` with ``params`` under ``seed``; bad parameters name the key."""
    fn = DATASETS.get(generator)
    try:
        dataset = fn(seed=seed, **params)
    except TypeError as exc:
        raise ValueError(f"dataset generator {generator!r}: bad parameters {params}: {exc}") from exc
    if dataset.modality != _MODALITY[generator]:
        raise ValueError(
            f"dataset generator {generator!r} is registered for {_MODALITY[generator]!r} data but made "
            f"{dataset.modality!r} data"
        )
    return dataset


def load_dataset(path: str) -> ImageDataset:
    from xaibench.io import load_npz

    return ImageDataset.from_arrays(load_npz(path))


def save_dataset(path: str, dataset: ImageDataset) -> None:
    from xaibench.io import save_npz

    save_npz(path, **dataset.to_arrays())


def evaluation_subset(dataset: ImageDataset, n: int, seed: int) -> np.ndarray:
    """A fixed, seeded, class-balanced-as-drawn subset of ``n`` samples of the test split (sorted sample
    indices); the whole test split when it has fewer (a real set's fixed split, e.g. UCR GunPoint's 150)."""
    test = dataset.indices("test")
    if n >= len(test):
        return np.sort(test)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(test, size=n, replace=False))
