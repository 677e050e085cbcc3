"""Views of data, activations and models beyond attribution heatmaps (one module per view)."""
