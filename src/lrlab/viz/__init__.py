"""Pictures: schedule curves, training curves, the gradient-descent animation, the report."""
