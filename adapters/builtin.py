"""Imports every bundled adapter module so each registers its kind."""

from adapters import flux, local_diffusion, mock, openai_images  # noqa: F401
