"""Datasets: a registered generator/reader turns config parameters into an :class:`ImageDataset`.

The public way in. Everything lives in :mod:`xaibench.datasets.core` (the dataset type, split helpers, the
``DATASETS`` registry, ``make/load/save_dataset``, ``evaluation_subset``) and in one module (or subpackage)
per dataset family; this package only re-exports the core's names and imports the built-in families so
that they register. Imports go one way: package -> family -> core; no module imports this package back.
"""

from __future__ import annotations

# the built-in families: importing them registers their generators
from xaibench.datasets import beam, counting, ct, image_folder, packaged, series, tabular, triangles_squares
from xaibench.datasets.core import (
    DATASETS,
    MODALITIES,
    SPLITS,
    Generator,
    ImageDataset,
    evaluation_subset,
    generator_modality,
    load_dataset,
    make_dataset,
    register,
    save_dataset,
    split_labels,
    split_sizes,
)

__all__ = [
    "DATASETS",
    "MODALITIES",
    "SPLITS",
    "Generator",
    "ImageDataset",
    "beam",
    "counting",
    "ct",
    "evaluation_subset",
    "generator_modality",
    "image_folder",
    "load_dataset",
    "make_dataset",
    "packaged",
    "register",
    "save_dataset",
    "series",
    "split_labels",
    "split_sizes",
    "tabular",
    "triangles_squares",
]
