"""Tables in the common layout: F features stored as images (N, 1, 1, F), modality "table".

Every column is min-max scaled to [0, 1] with its own minimum and maximum over the train split (val and
test values outside that range clipped): features have unrelated units, so each gets its own range.
``feature_names`` names the F columns.

``informative_table`` (synthetic, with ground truth)
    scikit-learn's ``make_classification(n_samples, n_features, n_informative, n_redundant, n_classes,
    n_clusters_per_class, class_sep, flip_y, shuffle=False, random_state=seed)``. With ``shuffle=False``
    the columns come in the order informative, redundant (random linear combinations of the informative
    ones), noise, and the rows come sorted by class and cluster. So that no position or block gives
    anything away, the rows are permuted (a seeded permutation; ``params["source_index"]`` is each row's
    index in sklearn's output, splits are consecutive blocks of the permuted rows, train first) and the
    columns are permuted (a second seeded permutation). ``feature_names[j]`` says what column j is and
    where it came from: ``"informative_3"`` is sklearn's informative column 3 (sklearn column 3),
    ``"redundant_1"`` its redundant column 1 (sklearn column ``n_informative + 1``), ``"noise_5"`` its
    noise column 5 (sklearn column ``n_informative + n_redundant + 5``).

    Mask (N, 1, 1, F), the same for every sample: True at the **informative** columns only. The redundant
    columns carry the same information (an explanation may legitimately use them) but are not the
    generating features, so they are left out of the ground truth; tell them apart with
    ``feature_names`` (:func:`feature_kinds`). ``flip_y`` defaults to 0 (sklearn: 0.01) so that every
    label is determined by the informative features; ``n_clusters_per_class`` keeps sklearn's default 2.

``sklearn_table`` (real, shipped with scikit-learn: offline)
    ============= ======= ======== ======= =====================================
    name          samples features classes class names
    ============= ======= ======== ======= =====================================
    breast_cancer 569     30       2       malignant, benign
    wine          178     13       3       class_0, class_1, class_2
    iris          150     4        3       setosa, versicolor, virginica
    ============= ======= ======== ======= =====================================

    Samples keep sklearn's order (``params["source_index"]``), labels and class names are sklearn's
    (``target``, ``target_names``), ``feature_names`` sklearn's. The split is stratified and seeded: within
    each class a seeded permutation puts ``round(test_fraction * n_c)`` samples in test,
    ``round(val_fraction * n_c)`` in val and the rest in train (the rule of
    ``xaibench.datasets.core.stratified_split``; defaults 0.2 and 0.1). No masks.
"""

from __future__ import annotations

import numpy as np

from xaibench.datasets.core import ImageDataset, register, split_labels, split_sizes, stratified_split

SKLEARN_TABLES = ("breast_cancer", "iris", "wine")


def minmax_columns(values: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Scale each column of ``values`` (N, F) to [0, 1] with its train min and max (others clipped); a
    constant column maps to 0. Returned as float32."""
    lo = values[train].min(axis=0)
    hi = values[train].max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.clip((values - lo) / span, 0.0, 1.0).astype(np.float32)


def feature_kinds(feature_names: list[str]) -> list[str]:
    """ "informative", "redundant" or "noise" for each of ``informative_table``'s feature names."""
    return [name.rsplit("_", 1)[0] for name in feature_names]


def _checked_int(key: str, value: int, minimum: int) -> int:
    if int(value) != value or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return int(value)


@register("informative_table", modality="table")
def informative_table(
    seed: int,
    n_train: int = 1000,
    n_val: int = 200,
    n_test: int = 400,
    n_features: int = 20,
    n_informative: int = 5,
    n_redundant: int = 2,
    n_classes: int = 2,
    n_clusters_per_class: int = 2,
    class_sep: float = 1.0,
    flip_y: float = 0.0,
) -> ImageDataset:
    """Generate the table; see the module docstring for every parameter."""
    from sklearn.datasets import make_classification

    sizes = split_sizes(n_train, n_val, n_test)
    n_informative = _checked_int("n_informative", n_informative, 1)
    n_redundant = _checked_int("n_redundant", n_redundant, 0)
    n_features = _checked_int("n_features", n_features, n_informative + n_redundant)
    n_classes = _checked_int("n_classes", n_classes, 2)
    n_clusters_per_class = _checked_int("n_clusters_per_class", n_clusters_per_class, 1)
    if n_classes * n_clusters_per_class > 2**n_informative:
        raise ValueError(
            f"n_classes * n_clusters_per_class = {n_classes * n_clusters_per_class} exceeds "
            f"2 ** n_informative = {2**n_informative} (make_classification puts the clusters on the "
            f"vertices of a hypercube)"
        )
    if not class_sep > 0:
        raise ValueError(f"class_sep must be > 0, got {class_sep}")
    if not 0.0 <= flip_y <= 1.0:
        raise ValueError(f"flip_y must be in [0, 1], got {flip_y}")

    n = sum(sizes)
    x, y = make_classification(
        n_samples=n,
        n_features=n_features,
        n_informative=n_informative,
        n_redundant=n_redundant,
        n_repeated=0,
        n_classes=n_classes,
        n_clusters_per_class=n_clusters_per_class,
        flip_y=flip_y,
        class_sep=class_sep,
        shuffle=False,
        random_state=seed,
    )
    n_noise = n_features - n_informative - n_redundant
    source_names = (
        [f"informative_{i}" for i in range(n_informative)]
        + [f"redundant_{i}" for i in range(n_redundant)]
        + [f"noise_{i}" for i in range(n_noise)]
    )
    rng = np.random.default_rng(seed)
    rows = rng.permutation(n)
    columns = rng.permutation(n_features)  # column j of the table is sklearn's column columns[j]
    split = split_labels(*sizes)
    values = minmax_columns(x[rows][:, columns], split == 0)
    informative = columns < n_informative
    return ImageDataset(
        images=values[:, None, None, :],
        labels=y[rows].astype(np.int64),
        split=split,
        class_names=[str(c) for c in range(n_classes)],
        masks=np.broadcast_to(informative, (n, 1, 1, n_features)).copy(),
        params={"source_index": rows.astype(np.int64)},
        modality="table",
        feature_names=[source_names[c] for c in columns],
    )


@register("sklearn_table", modality="table")
def sklearn_table(
    seed: int, name: str = "breast_cancer", val_fraction: float = 0.1, test_fraction: float = 0.2
) -> ImageDataset:
    """Read table ``name`` shipped with scikit-learn (see the module docstring) with a stratified split."""
    if name not in SKLEARN_TABLES:
        raise ValueError(f"sklearn_table name must be one of {list(SKLEARN_TABLES)}, got {name!r}")
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")()
    labels = np.asarray(bunch.target, dtype=np.int64)
    split = stratified_split(labels, val_fraction, test_fraction, np.random.default_rng(seed))
    values = minmax_columns(np.asarray(bunch.data, dtype=np.float64), split == 0)
    return ImageDataset(
        images=values[:, None, None, :],
        labels=labels,
        split=split,
        class_names=[str(c) for c in bunch.target_names],
        params={"source_index": np.arange(len(labels), dtype=np.int64)},
        modality="table",
        feature_names=[str(f) for f in bunch.feature_names],
    )
