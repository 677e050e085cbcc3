"""Randomisation metrics: does the explanation change when the model or the target class does?"""

from __future__ import annotations

from xaibench.metrics.core import MetricSpec, register
from xaibench.metrics.quantus_fixes import fixed_efficient_mprt, fixed_mprt
from xaibench.metrics.rules import auto_output_size

register(
    "efficient_mprt",
    MetricSpec(
        "EfficientMPRT",
        {"skip_layers": True, "layer_order": "bottom_up"},
        needs_explain_func=True,
        fixed={"compute_extra_scores": False},
        metric_class=fixed_efficient_mprt,
        quantus_class_runs=True,  # Quantus's EfficientMPRT explains the original model again
        notes=(
            "Per-sample score (Quantus's own): relative rise in explanation complexity (discrete entropy) "
            "from the original to the fully randomised model, (H_rand - H_orig) / H_orig; H_orig of the "
            "maps under evaluation (Quantus explains them again), so one explanation pass: the fully "
            "randomised model's (skip_layers=True). Higher is better."
        ),
    ),
)
register(
    "mprt",
    MetricSpec(
        "MPRT",
        {"skip_layers": True, "layer_order": "top_down"},
        needs_explain_func=True,
        fixed={"return_last_correlation": True, "return_average_correlation": False},
        metric_class=fixed_mprt,
        quantus_class_runs=True,  # Quantus's MPRT explains the original model again
        notes=(
            "Per-sample score: Spearman correlation between a and the explanation of the fully "
            "(cascading, top-down) randomised model (return_last_correlation); skip_layers=True skips "
            "the intermediate layers; the original model is not explained again (Quantus does, for a "
            "correlation this score does not use). Lower is better."
        ),
    ),
)
register(
    "random_logit",
    MetricSpec(
        "RandomLogit",
        {"num_classes": "auto"},
        resolve=(auto_output_size("num_classes"),),
        needs_num_classes=True,
        needs_explain_func=True,
        notes="num_classes 'auto' = the model's output size (Quantus's 1000 is for ImageNet).",
    ),
)
