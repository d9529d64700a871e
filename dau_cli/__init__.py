"""dau: make trained image classifiers forget, and check that they did."""

__version__ = "0.1.0"
