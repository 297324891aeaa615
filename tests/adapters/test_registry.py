"""adapters/registry.py: kinds are data; nothing registers itself on import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from adapters import registry
from adapters.base import AdapterSettingsError


@pytest.mark.parametrize("kind", sorted(registry.BUILTIN))
def test_every_builtin_kind_resolves_to_its_class(kind: str) -> None:
    cls = registry.adapter_class(kind)
    assert getattr(cls, "kind", None) == kind


def test_reading_the_kinds_imports_no_adapter_module() -> None:
    """In a fresh interpreter: the config check's question (which kinds exist?) costs no adapter
    import, and `build_adapter` works with no prior import of an adapter module (no side effect)."""
    code = (
        "import sys\n"
        "from adapters.registry import adapter_kinds, options_type\n"
        "assert adapter_kinds() == ['a1111', 'comfyui', 'fal', 'flux', 'google', 'local_diffusion', 'mock', 'openai', 'replicate', 'stability'], adapter_kinds()\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('adapters.') and m not in\n"
        "    ('adapters.base', 'adapters.registry'))\n"
        "assert loaded == [], loaded\n"
        "assert options_type('flux').__name__ == 'FluxOptions'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(AdapterSettingsError, match="expected one of"):
        registry.adapter_class("nope")


def test_the_builtin_table_cannot_be_changed_or_shadowed() -> None:
    with pytest.raises(TypeError):
        registry.BUILTIN["evil"] = "os:system"  # type: ignore[index]
    with pytest.raises(ValueError, match="built in"):
        registry.register("openai")


def test_a_kind_registered_for_a_block_is_gone_after_it() -> None:
    """Tests add their fake kinds with `registered` (a fixture), never at import time, so no kind
    outlives the tests that use it."""

    class Probe:
        kind = "test-block-only"

    with registry.registered("test-block-only", Probe):  # type: ignore[arg-type]
        assert "test-block-only" in registry.adapter_kinds()
        assert registry.adapter_class("test-block-only") is Probe
    assert "test-block-only" not in registry.adapter_kinds()
    with pytest.raises(ValueError, match="built in"), registry.registered("openai", Probe):  # type: ignore[arg-type]
        pass
    assert registry.adapter_class("openai") is not Probe
