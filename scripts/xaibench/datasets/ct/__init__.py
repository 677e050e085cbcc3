"""CT lung-nodule patches (seed 000 §3.2, seed 004): LUNA16 / DICOM readers and a synthetic LUNA16 writer.

* :mod:`~xaibench.datasets.ct.geometry`: world <-> voxel, resampling, Hounsfield windowing;
* :mod:`~xaibench.datasets.ct.volumes`: reading volumes (``.mhd``/``.raw``, DICOM series), writing DICOM;
* :mod:`~xaibench.datasets.ct.patches`: patches, masks and negatives of one series;
* :mod:`~xaibench.datasets.ct.readers`: the generators ``luna16`` and ``dicom_nodules``;
* :mod:`~xaibench.datasets.ct.synthetic`: synthetic LUNA16 folders, LIDC diameters, the generator
  ``synthetic_ct``.

Importing this package registers the three generators.
"""

from xaibench.datasets.ct import readers, synthetic  # noqa: F401  (register the generators)
