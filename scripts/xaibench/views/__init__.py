"""Views of data, activations and models beyond attribution heatmaps (one module per view).

:data:`VIEWS` holds every view (:mod:`~xaibench.views.catalogue` registers them with :func:`register`; see
:mod:`~xaibench.views.registry` for the contract); :mod:`~xaibench.views.jobs` runs one. Importing the package
is light (no torch, no matplotlib): the workflow does it when it is parsed.
"""

from xaibench.views import catalogue  # noqa: F401 (registers every view)
from xaibench.views.registry import INPUTS, MODEL, VIEWS, ViewOutput, ViewSpec, register

__all__ = ["INPUTS", "MODEL", "VIEWS", "ViewOutput", "ViewSpec", "register"]
