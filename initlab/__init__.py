"""initlab: a lab for weight-initialization experiments in Keras 3."""

__version__ = "0.1.0"
