"""Build, once at installation (`make setup`), the caches a fresh environment lacks: matplotlib's font list
and the numba-compiled UMAP kernels (umap-learn compiles them on first use and caches them in its package
folder). Without this, the first workflow job or test that draws a figure or embeds features pays for them.

    .venv/bin/python tools/warm_caches.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))


def main() -> None:
    start = time.perf_counter()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from xaibench.views.embeddings import umap_2d

    fig = plt.figure()
    fig.text(0.5, 0.5, "warm")
    fig.canvas.draw()
    plt.close(fig)
    umap_2d(np.random.default_rng(0).random((40, 8)).astype(np.float32), n_neighbors=5)
    print(f"caches warmed in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
