"""Named parameter sets of a registered metric (``params: {preset: <name>}`` in a metric's config entry)."""

from __future__ import annotations

PRESETS: dict[str, dict] = {
    "samek2017": {
        "metric": "region_perturbation",
        "params": {
            "patch_size": 9,
            "regions_evaluation": 100,
            "order": "morf",
            "perturb_func": "uniform_noise_replacement",
            "perturb_func_kwargs": {},
        },
        "description": (
            "Region perturbation after Samek et al. 2017 (IEEE TNNLS 28(11)): 9x9 regions in MoRF order "
            "replaced by per-pixel uniform noise (within each image's value range), up to L = 100 steps, "
            "score AOPC. Differences: Quantus ranks a fixed grid of non-overlapping patches by summed "
            "relevance (Samek perturbs the region around each next most relevant location), so a 32x32 "
            "image has only 16 regions (padded to 36x36) and L = min(100, regions). Quantus's own "
            "'uniform' baseline fills a whole region with one random value per image, hence the "
            "per-pixel noise function."
        ),
    },
}
