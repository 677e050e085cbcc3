"""Paper figures and the figures of the views; this module only re-exports.

* :mod:`~xaibench.figures.names`: display names of methods and metrics (the one table figures label with);
* :mod:`~xaibench.figures.common`: atomic saving, text helpers, attribution-map normalisation, method styles;
* :mod:`~xaibench.figures.grid`: the explanation grid (Fig. 1);
* :mod:`~xaibench.figures.heatmap`: the method × metric heatmap of normalised scores;
* :mod:`~xaibench.figures.curves`: faithfulness (perturbation) curves, one panel per method family;
* :mod:`~xaibench.figures.forest`: forest plots of method means and CIs against the random control;
* :mod:`~xaibench.figures.ranks`: critical-difference diagrams and the metric-agreement matrices;
* :mod:`~xaibench.figures.sweeps`: difficulty sweeps (accuracy and metrics against a dataset parameter);
* :mod:`~xaibench.figures.training`: training curves;
* :mod:`~xaibench.figures.randomisation`: the cascading randomisation view (maps and similarity curves);
* :mod:`~xaibench.figures.views_input`, :mod:`~xaibench.figures.views_model`: the views of inputs and of
  the model.

Only numpy, pandas and matplotlib are imported, so that figure jobs start fast; no figure module imports
torch, captum, quantus or seaborn.
"""

from xaibench.figures.common import (
    DIVERGING_CMAP,
    SEQUENTIAL_CMAP,
    WRONG_COLOUR,
    PathLike,
    is_signed,
    method_styles,
    normalise_map,
    save_figure,
    wrap_text,
)
from xaibench.figures.curves import plot_faithfulness_curves
from xaibench.figures.forest import plot_forest
from xaibench.figures.grid import ExplanationPanel, plot_explanation_grid
from xaibench.figures.heatmap import normalise_scores, plot_metric_heatmap
from xaibench.figures.names import (
    CONTROL_METHODS,
    METHOD_NAMES,
    METRIC_NAMES,
    method_label,
    method_labels,
    metric_entry_label,
    metric_label,
    metric_labels,
)
from xaibench.figures.randomisation import plot_randomisation_curves, plot_randomisation_maps
from xaibench.figures.ranks import RankPanel, plot_critical_differences, plot_metric_agreement
from xaibench.figures.sweeps import plot_sweep
from xaibench.figures.training import plot_training_curves
from xaibench.figures.views_input import (
    plot_activation_maps,
    plot_guided_gradcam_composite,
    plot_max_activating,
    plot_occlusion_sweep,
)
from xaibench.figures.views_model import (
    plot_adversarial_heatmaps,
    plot_adversarial_similarity,
    plot_embeddings,
    plot_feature_visualisation,
    plot_fgsm_growth,
    plot_maximisation,
)

__all__ = [
    "CONTROL_METHODS",
    "DIVERGING_CMAP",
    "METHOD_NAMES",
    "METRIC_NAMES",
    "SEQUENTIAL_CMAP",
    "WRONG_COLOUR",
    "ExplanationPanel",
    "PathLike",
    "RankPanel",
    "is_signed",
    "method_label",
    "method_labels",
    "method_styles",
    "metric_entry_label",
    "metric_label",
    "metric_labels",
    "normalise_map",
    "normalise_scores",
    "plot_activation_maps",
    "plot_adversarial_heatmaps",
    "plot_adversarial_similarity",
    "plot_critical_differences",
    "plot_embeddings",
    "plot_explanation_grid",
    "plot_faithfulness_curves",
    "plot_feature_visualisation",
    "plot_fgsm_growth",
    "plot_forest",
    "plot_guided_gradcam_composite",
    "plot_max_activating",
    "plot_maximisation",
    "plot_metric_agreement",
    "plot_metric_heatmap",
    "plot_occlusion_sweep",
    "plot_randomisation_curves",
    "plot_randomisation_maps",
    "plot_sweep",
    "plot_training_curves",
    "save_figure",
    "wrap_text",
]
