"""Imports every bundled adapter module so each registers its kind."""

from adapters import mock  # noqa: F401
