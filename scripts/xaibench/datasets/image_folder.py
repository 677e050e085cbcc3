"""A user's own images: one folder per class, optional binary masks (registry name ``image_folder``).

This is the path for real data the workflow cannot ship: ISIC dermoscopy (with the lesion
segmentations as masks), SVIRO seat occupancy, fruit photos, JSRT chest radiographs (with lung masks),
and so on. Nothing is downloaded; the user points ``root`` at a folder.

Layout (``root/masks`` is reserved and never a class)::

    root/<class>/<name>.png|jpg|jpeg|tif|tiff|bmp     images; ``recursive: true`` also takes sub-folders
    root/masks/<class>/<name>.<ext>                    optional masks, same relative path as the image
    (or ``mask_root: DIR`` with DIR/<class>/<name>.<ext> anywhere else)

A mask is matched by the image's relative path; if that file does not exist, by the same relative path
with ``mask_suffix`` appended to the stem and any allowed extension (so ``a.jpg`` finds ``a.png``, and
ISIC's ``ISIC_0000000_segmentation.png`` is found with ``mask_suffix: _segmentation``). With
``masks: auto`` (default) masks are used when the mask folder exists; once used, every image needs one
(a missing mask is an error naming the image and where its mask was looked for). ``masks: false``
ignores them; ``masks: true`` requires the mask folder.

Parameters: ``root``; ``image_size`` (default 64, square output side); ``channels`` ("auto" | 1 | 3);
``classes`` (explicit class order and selection; default: the sorted class-folder names; other folders
are then ignored); ``val_fraction``/``test_fraction`` (default 0.1/0.2, stratified and seeded, see
:func:`xaibench.datasets.core.stratified_split`); ``extensions``; ``max_per_class`` (seeded random
subset per class, drawn before any file is read); ``fit`` ("stretch" | "crop" | "pad");
``allow_empty_classes``; ``skip_unreadable``; ``resize_masks``; ``recursive``; ``mask_root``;
``mask_suffix``.

Conversion rules (each file is read, converted, then resized to ``image_size``):

* Reading: TIFF with :mod:`tifffile` (native dtype, first page of a multi-page file), falling back to
  Pillow (e.g. for LZW-compressed TIFF without ``imagecodecs``); every other format with Pillow, EXIF
  orientation applied (``ImageOps.exif_transpose``), first frame of an animated file.
* Intensities to [0, 1] by the stored type: 8-bit / 255; 16-bit / 65535 (32-bit signed integers, Pillow's
  mode "I", count as 16-bit when all their values lie in 0..65535); other unsigned integers / their
  type's maximum, signed ones mapped from their type's range; bilevel (mode "1") 0/1; floats kept if
  already in [0, 1], otherwise min-max scaled per image (logged; a constant one becomes 0). Pillow reads
  48-bit RGB PNGs as 8 bits per channel: store 16-bit colour as TIFF.
* Channels: palette images ("P") are expanded to RGB; CMYK / YCbCr / LAB / HSV are converted to RGB;
  RGBA and grey+alpha (LA) **drop the alpha channel** (no compositing); planar TIFF (PlanarConfiguration 2)
  is made channels-last. ``channels: 1``: colour becomes luminance Y = 0.299 R + 0.587 G + 0.114 B (ITU-R
  BT.601, Pillow's "L"). ``channels: 3``: grey is copied to three channels. ``channels: auto``: 1 if every
  image is grey (one channel, or three exactly equal channels), else 3.
* Size: images of different sizes are fine; each is resized to ``image_size`` x ``image_size`` by
  :func:`xaibench.datasets.packaged.resize_image` (bilinear, anti-aliased when shrinking). ``fit``:
  "stretch" (default; the aspect ratio is not kept), "crop" (centre square crop, then resize) or "pad"
  (centred zero padding to a square, then resize; padded mask pixels are background).
* Masks: read with the same reader; colour masks use the maximum over their colour channels (alpha
  ignored). A mask must have its image's size (error naming both files) unless ``resize_masks: true``,
  which resizes it to the image's size first. Non-binary masks (anti-aliased edges, JPEG noise, 0/255 or
  0/1 coding) are thresholded at the middle of their own value range: ``mask > (min + max) / 2`` on the
  stored values (a constant mask is all foreground if its value is > 0, else all background). The binary
  mask then goes through the image's crop/pad and resize, and is thresholded at 0.5 again.

Errors name the file or key: a missing ``root`` or ``mask_root``; no class folders; a class folder
without images (or dropped with a warning if ``allow_empty_classes: true``); a class listed in ``classes``
without a folder; an unreadable or corrupt file (or skipped with a warning if ``skip_unreadable: true``);
a mask of the wrong size or a missing mask.

Per-sample ``params``: ``path`` (image path relative to ``root``, POSIX), ``mask_path`` (relative to the
mask folder, when masks are used), ``source_height`` and ``source_width`` (size as stored).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from xaibench.datasets.core import ImageDataset, check_fractions, register, stratified_split
from xaibench.datasets.packaged import resize_image, subsample_per_class

log = logging.getLogger(__name__)

DEFAULT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MASK_DIR = "masks"
LUMA = np.array([0.299, 0.587, 0.114])
FITS = ("stretch", "crop", "pad")


class UnreadableImageError(ValueError):
    """A file that cannot be decoded as an image; the message names the file."""


def _normalise_extensions(extensions: Any) -> tuple[str, ...]:
    if isinstance(extensions, str):
        extensions = [extensions]
    out = []
    for ext in extensions:
        if not isinstance(ext, str) or not ext.strip("."):
            raise ValueError(f"extensions: {ext!r} is not a file extension")
        out.append("." + ext.lower().lstrip("."))
    if not out:
        raise ValueError("extensions must not be empty")
    return tuple(out)


def _list_images(folder: Path, extensions: tuple[str, ...], recursive: bool) -> list[Path]:
    """Image files under ``folder`` (sorted by relative path); hidden entries and other extensions ignored."""
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    files = [
        p
        for p in candidates
        if p.suffix.lower() in extensions
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.is_file()
    ]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


# ----------------------------------------------------------------------------------------------- reading


def _pillow_array(path: Path) -> np.ndarray:
    from PIL import Image, ImageOps

    with Image.open(path) as img:
        img.seek(0)
        img.load()
        img = ImageOps.exif_transpose(img)
        mode = img.mode
        if mode == "P":
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif mode == "PA":
            img = img.convert("RGBA")
        elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            img = img.convert("RGB")
        elif mode == "1":
            return np.asarray(img, dtype=bool)
        elif mode.startswith("I;16"):
            return np.asarray(img).astype(np.uint16)
        return np.asarray(img)


def _tiff_array(path: Path) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if page.photometric == tifffile.PHOTOMETRIC.PALETTE:  # indices into a colour map
                raise ValueError("palette TIFF: read through Pillow")
            array = page.asarray()
            if array.ndim == 3 and page.planarconfig == tifffile.PLANARCONFIG.SEPARATE:  # (C, H, W)
                array = np.moveaxis(array, 0, -1)
            return array
    except Exception as tiff_exc:
        try:
            return _pillow_array(path)
        except Exception as pil_exc:
            raise UnreadableImageError(
                f"cannot read image {path}: tifffile: {tiff_exc}; Pillow: {pil_exc}"
            ) from pil_exc


def read_raw(path: Path) -> np.ndarray:
    """The stored array of an image file, (H, W) or (H, W, C), native dtype; errors name the file."""
    if path.suffix.lower() in (".tif", ".tiff"):
        array = _tiff_array(path)
    else:
        try:
            array = _pillow_array(path)
        except Exception as exc:
            raise UnreadableImageError(f"cannot read image {path}: {type(exc).__name__}: {exc}") from exc
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] > 4) or min(array.shape[:2]) < 1:
        raise UnreadableImageError(f"cannot read image {path}: unsupported array shape {array.shape}")
    return array


def to_unit_range(array: np.ndarray, path: Path) -> np.ndarray:
    """Stored values -> float64 in [0, 1] by the stored type (see the module's conversion rules)."""
    dtype = array.dtype
    if dtype == np.bool_:
        return array.astype(np.float64)
    if dtype == np.uint8:
        return array / 255.0
    if dtype == np.uint16:
        return array / 65535.0
    if np.issubdtype(dtype, np.integer):
        lo, hi = int(array.min()), int(array.max())
        if dtype == np.int32 and lo >= 0 and hi <= 65535:  # Pillow mode "I": a 16-bit PNG/TIFF
            return array / 65535.0
        info = np.iinfo(dtype)
        if info.min < 0:
            return (array.astype(np.float64) - info.min) / (float(info.max) - info.min)
        return array / float(info.max)
    if np.issubdtype(dtype, np.floating):
        values = array.astype(np.float64)
        if not np.isfinite(values).all():
            raise UnreadableImageError(f"cannot read image {path}: non-finite float values")
        lo, hi = values.min(), values.max()
        if lo >= 0.0 and hi <= 1.0:
            return values
        log.warning("%s: float values in [%g, %g], min-max scaled to [0, 1]", path, lo, hi)
        return (values - lo) / (hi - lo) if hi > lo else np.zeros_like(values)
    raise UnreadableImageError(f"cannot read image {path}: unsupported data type {dtype}")


def to_channels_last(array: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, C) -> (H, W, 1 or 3): alpha dropped (LA -> L, RGBA -> RGB)."""
    if array.ndim == 2:
        return array[..., None]
    c = array.shape[-1]
    if c == 2:
        return array[..., :1]
    if c == 4:
        return array[..., :3]
    return array


def _is_grey(image: np.ndarray) -> bool:
    return image.shape[-1] == 1 or bool(
        np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2])
    )


def _fit_square(image: np.ndarray, fit: str) -> np.ndarray:
    """Centre crop or centred zero pad of (..., H, W) to a square; "stretch" leaves it as is."""
    h, w = image.shape[-2:]
    if fit == "stretch" or h == w:
        return image
    if fit == "crop":
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        return image[..., top : top + s, left : left + s]
    s = max(h, w)
    top, left = (s - h) // 2, (s - w) // 2
    out = np.zeros((*image.shape[:-2], s, s), dtype=image.dtype)
    out[..., top : top + h, left : left + w] = image
    return out


def binarise_mask(raw: np.ndarray) -> tuple[np.ndarray, bool]:
    """(H, W) bool mask from a stored mask: max over colour channels, threshold at mid-range.

    Returns the mask and whether the stored mask was not already two-valued (0 and one other value).
    """
    values = to_channels_last(raw).astype(np.float64).max(axis=-1)
    lo, hi = values.min(), values.max()
    if hi == lo:
        return np.full(values.shape, hi > 0), False
    non_binary = lo != 0 or not np.all((values == lo) | (values == hi))
    return values > (lo + hi) / 2, bool(non_binary)


# ------------------------------------------------------------------------------------------------ finding


class _MaskFinder:
    """Finds the mask of an image path relative to root; one directory listing per mask sub-folder."""

    def __init__(self, mask_dir: Path, extensions: tuple[str, ...], suffix: str) -> None:
        self.mask_dir, self.extensions, self.suffix = mask_dir, extensions, suffix
        self._listings: dict[Path, dict[str, list[str]]] = {}

    def _listing(self, folder: Path) -> dict[str, list[str]]:
        if folder not in self._listings:
            stems: dict[str, list[str]] = {}
            if folder.is_dir():
                for entry in sorted(os.listdir(folder)):
                    stem, ext = os.path.splitext(entry)
                    if ext.lower() in self.extensions and (folder / entry).is_file():
                        stems.setdefault(stem, []).append(entry)
            self._listings[folder] = stems
        return self._listings[folder]

    def expected(self, rel: Path) -> str:
        return str(self.mask_dir / rel.parent / (rel.stem + self.suffix + rel.suffix))

    def find(self, rel: Path) -> Path | None:
        folder = self.mask_dir / rel.parent
        entries = self._listing(folder).get(rel.stem + self.suffix, [])
        exact = rel.stem + self.suffix + rel.suffix
        if exact in entries:
            return folder / exact
        if len(entries) > 1:
            raise ValueError(
                f"several masks match image {rel.as_posix()}: {[str(folder / e) for e in entries]}"
            )
        return folder / entries[0] if entries else None


def _class_folders(root: Path, classes: list[str] | None) -> list[tuple[str, Path]]:
    found = sorted(
        p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != MASK_DIR
    )
    if classes is None:
        if not found:
            raise ValueError(
                f"no class folders in image_folder root {root} "
                f"(expected {root}/<class>/<image>; '{MASK_DIR}' is reserved for masks)"
            )
        return [(name, root / name) for name in found]
    if isinstance(classes, str) or not list(classes):
        raise ValueError(f"classes must be a non-empty list of folder names, got {classes!r}")
    classes = [str(c) for c in classes]
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes lists a name twice: {classes}")
    for name in classes:
        if name == MASK_DIR or not (root / name).is_dir():
            raise ValueError(f"classes: {name!r} has no folder {root / name}")
    ignored = sorted(set(found) - set(classes))
    if ignored:
        log.info("image_folder %s: folders not in classes ignored: %s", root, ignored)
    return [(name, root / name) for name in classes]


# ---------------------------------------------------------------------------------------------- generator


@register("image_folder")
def image_folder(
    seed: int,
    root: str,
    image_size: int = 64,
    channels: str | int = "auto",
    classes: list[str] | None = None,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    extensions: list[str] | tuple[str, ...] = DEFAULT_EXTENSIONS,
    max_per_class: int | None = None,
    fit: str = "stretch",
    masks: str | bool = "auto",
    mask_root: str | None = None,
    mask_suffix: str = "",
    resize_masks: bool = False,
    allow_empty_classes: bool = False,
    skip_unreadable: bool = False,
    recursive: bool = False,
) -> ImageDataset:
    """Read ``root/<class>/<image>`` (and masks) into an :class:`ImageDataset`; see the module docstring."""
    if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    if channels not in ("auto", 1, 3) or isinstance(channels, bool):
        raise ValueError(f"channels must be 'auto', 1 or 3, got {channels!r}")
    if fit not in FITS:
        raise ValueError(f"fit must be one of {list(FITS)}, got {fit!r}")
    if masks not in ("auto", True, False):
        raise ValueError(f"masks must be 'auto', true or false, got {masks!r}")
    check_fractions(val_fraction, test_fraction)
    exts = _normalise_extensions(extensions)
    root_path = Path(os.path.expanduser(str(root)))
    if not root_path.exists():
        raise FileNotFoundError(f"image_folder root {root_path} does not exist")
    if not root_path.is_dir():
        raise NotADirectoryError(f"image_folder root {root_path} is not a folder")

    if mask_root is not None:
        mask_dir: Path | None = Path(os.path.expanduser(str(mask_root)))
        if masks is not False and not mask_dir.is_dir():
            raise FileNotFoundError(f"mask_root {mask_dir} does not exist or is not a folder")
    else:
        mask_dir = root_path / MASK_DIR
    if masks is False or (masks == "auto" and not mask_dir.is_dir()):
        mask_dir = None
    elif not mask_dir.is_dir():
        raise FileNotFoundError(f"masks: true but the mask folder {mask_dir} does not exist")

    # 1. find the files of every class (no file is read yet)
    class_files: list[tuple[str, list[Path]]] = []
    for name, folder in _class_folders(root_path, classes):
        files = _list_images(folder, exts, recursive)
        if not files:
            msg = f"class folder {folder} has no images with extensions {list(exts)}"
            if not allow_empty_classes:
                raise ValueError(msg + " (set allow_empty_classes: true to skip it)")
            log.warning("%s: class %r skipped", msg, name)
            continue
        class_files.append((name, files))
    if not class_files:
        raise ValueError(f"image_folder root {root_path}: no images in any class folder")
    files = [f for _, fs in class_files for f in fs]
    labels = np.concatenate([np.full(len(fs), i, dtype=np.int64) for i, (_, fs) in enumerate(class_files)])
    finder = _MaskFinder(mask_dir, exts, str(mask_suffix)) if mask_dir is not None else None

    rng = np.random.default_rng(seed)
    keep = subsample_per_class(labels, max_per_class, rng)

    # 2. read, convert, resize
    images, grey, kept, mask_list, mask_paths, sizes = [], [], [], [], [], []
    n_non_binary = 0
    for i in keep:
        path = files[i]
        rel = path.relative_to(root_path)
        mask_path = None
        if finder is not None:
            mask_path = finder.find(rel)
            if mask_path is None:
                raise FileNotFoundError(
                    f"no mask for image {path}: looked for {finder.expected(rel)} "
                    f"(the same stem with any of {list(exts)} is accepted)"
                )
        try:
            image = to_channels_last(to_unit_range(read_raw(path), path))
            raw_mask = read_raw(mask_path) if mask_path is not None else None
        except UnreadableImageError as exc:
            if not skip_unreadable:
                raise UnreadableImageError(f"{exc} (set skip_unreadable: true to skip it)") from exc
            log.warning("skipped: %s", exc)
            continue
        h, w = image.shape[:2]
        mask = None
        if raw_mask is not None and mask_dir is not None and mask_path is not None:
            mask, non_binary = binarise_mask(raw_mask)
            n_non_binary += non_binary
            if mask.shape != (h, w):
                if not resize_masks:
                    raise ValueError(
                        f"mask {mask_path} is {mask.shape[1]}x{mask.shape[0]} (WxH) but image {path} is "
                        f"{w}x{h} (set resize_masks: true to resize masks to their images)"
                    )
                mask = resize_image(mask.astype(np.float32), (h, w)) >= 0.5
            mask_paths.append(mask_path.relative_to(mask_dir).as_posix())
        chw = _fit_square(np.moveaxis(image, -1, 0), fit)
        grey.append(_is_grey(image))
        images.append(resize_image(chw, int(image_size)))
        if mask is not None:
            mask_list.append(resize_image(_fit_square(mask.astype(np.float32), fit), int(image_size)) >= 0.5)
        kept.append(i)
        sizes.append((h, w))
    if n_non_binary:
        log.info("%d of %d masks were not binary: thresholded at mid-range", n_non_binary, len(mask_list))

    kept_idx = np.asarray(kept, dtype=np.int64)
    kept_labels = labels[kept_idx] if len(kept_idx) else np.zeros(0, dtype=np.int64)
    present = sorted(set(kept_labels.tolist()))
    if len(present) < len(class_files):  # a class lost all its files to skip_unreadable
        for j, (name, _) in enumerate(class_files):
            if j not in present:
                msg = f"class {name!r} ({root_path / name}) has no readable images"
                if not allow_empty_classes:
                    raise ValueError(msg + " (set allow_empty_classes: true to skip it)")
                log.warning("%s: class skipped", msg)
        remap = {old: new for new, old in enumerate(present)}
        kept_labels = np.array([remap[int(v)] for v in kept_labels], dtype=np.int64)
        class_files = [class_files[j] for j in present]
    if not len(kept_idx):
        raise ValueError(f"image_folder root {root_path}: no readable images")

    n_channels = channels if channels != "auto" else (1 if all(grey) else 3)
    out = np.empty((len(images), n_channels, image_size, image_size), dtype=np.float32)
    for k, img in enumerate(images):
        if n_channels == 1 and img.shape[0] == 3:
            img = np.tensordot(LUMA, img.astype(np.float64), axes=1)[None]
        elif n_channels == 3 and img.shape[0] == 1:
            img = np.repeat(img, 3, axis=0)
        out[k] = np.clip(img, 0.0, 1.0)

    params: dict[str, np.ndarray] = {
        "path": np.asarray([files[i].relative_to(root_path).as_posix() for i in kept_idx], dtype=str),
        "source_height": np.asarray([s[0] for s in sizes], dtype=np.int64),
        "source_width": np.asarray([s[1] for s in sizes], dtype=np.int64),
    }
    if mask_dir is not None:
        params["mask_path"] = np.asarray(mask_paths, dtype=str)
    return ImageDataset(
        images=out,
        labels=kept_labels,
        split=stratified_split(kept_labels, val_fraction, test_fraction, rng),
        class_names=[name for name, _ in class_files],
        masks=np.stack(mask_list)[:, None] if mask_dir is not None else None,
        params=params,
    )
