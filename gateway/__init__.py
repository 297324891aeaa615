"""imagegate: one URL, one schema for image generation."""

__version__ = "0.1.0"
__all__ = ["__version__"]
