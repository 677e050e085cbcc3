# Views of inputs and internal activations: occlusion sweep, activation maps, max/min activating
# images, guided Grad-CAM composite (seeds 001 and 003).


def input_view_targets():
    return []
