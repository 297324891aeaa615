"""Dependencies point down (docs/architecture.md, "Layers"): no product module imports a layer above
its own, and adapters import only the provider-facing helpers.

Every `import` / `from ... import` is read with `ast`, at module level AND inside functions and
`if TYPE_CHECKING:` blocks (a lazy import is still an arrow). Modules in the same layer may import
each other. A new module inside an existing package joins that package's layer; a new top-level
module must be placed in LAYERS, or this test fails naming it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("gateway", "adapters")

# Bottom to top: a module may import its own layer and the layers listed before it. An entry names
# a module or a package (its submodules included), except `gateway` itself: only its __init__ (else
# every new top-level module would silently join the vocabulary). The longest matching entry wins.
LAYERS: list[tuple[str, list[str]]] = [
    ("config", ["gateway.config", "gateway.settings"]),
    ("vocabulary", ["gateway", "gateway.b64", "gateway.errors", "gateway.canonical", "gateway.metrics", "gateway.logsafe"]),
    (
        "shared helpers",
        [
            "gateway.http_client",
            "gateway.upstream",
            "gateway.imaging",
            "gateway.sizing",
            "gateway.schemas",
            "gateway.edit_inputs",
            "gateway.edit_schema",
            "gateway.finishing",
            "gateway.edge",
            "gateway.redis",
            "gateway.state",
            "gateway.storage",
            "gateway.idempotency",
            "gateway.pricing",
        ],
    ),
    ("adapters", ["adapters"]),
    ("runtime", ["gateway.runtime"]),
    ("routing", ["gateway.routing"]),
    ("limits", ["gateway.limits", "gateway.budgets"]),
    ("auth", ["gateway.auth"]),
    ("pipeline", ["gateway.merge", "gateway.service", "gateway.costing", "gateway.generation", "gateway.stored_results", "gateway.responders", "gateway.splice", "gateway.streaming"]),
    ("wiring", ["gateway.services", "gateway.reload", "gateway.jobs"]),
    ("api", ["gateway.api"]),
    ("entry points", ["gateway.app", "gateway.asgi", "gateway.process_tuning", "gateway.cli", "gateway.__main__", "gateway.client", "gateway.client_stream", "gateway.client_jobs"]),
]

# What an adapter may import besides other adapter modules: translation needs the canonical types,
# the error taxonomy, the network boundary and the image/size helpers — never auth, limits, Redis,
# routing or metrics.
ADAPTER_ALLOWED = (
    "gateway.b64",  # the one strict base64 codec
    "gateway.canonical",
    "gateway.errors",
    "gateway.upstream",
    "gateway.sizing",
    "gateway.imaging",
    "gateway.config",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {
    _module_name(path): path for top in PRODUCT for path in sorted((ROOT / top).rglob("*.py"))
}


def _within(module: str, entry: str) -> bool:
    return module == entry or module.startswith(entry + ".")


def layer_of(module: str) -> int | None:
    best: tuple[int, int] | None = None  # (entry length, layer index)
    for index, (_, entries) in enumerate(LAYERS):
        for entry in entries:
            matches = module == entry if entry == "gateway" else _within(module, entry)
            if matches and (best is None or len(entry) > best[0]):
                best = (len(entry), index)
    return None if best is None else best[1]


def imports_of(module: str) -> Iterator[tuple[int, str]]:
    """(line, imported product module) for every import anywhere in `module`'s source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from gateway import upstream` imports the module gateway.upstream, not the package
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in dict.fromkeys(targets):
            if target.split(".")[0] in PRODUCT:
                yield node.lineno, target


def test_every_product_module_has_a_layer() -> None:
    unplaced = sorted(module for module in MODULES if layer_of(module) is None)
    assert not unplaced, f"place these modules in tests/test_layering.py LAYERS: {unplaced}"
    assert layer_of("gateway.brand_new") is None  # a new top-level module is not placed by default


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = []
    for module in MODULES:
        own = layer_of(module)
        for line, target in imports_of(module):
            theirs = layer_of(target)
            if own is not None and theirs is not None and theirs > own:
                upward.append(
                    f"{MODULES[module].relative_to(ROOT)}:{line} {module} ({LAYERS[own][0]})"
                    f" -> {target} ({LAYERS[theirs][0]})"
                )
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def test_adapters_import_only_the_provider_facing_helpers() -> None:
    bad = [
        f"{MODULES[module].relative_to(ROOT)}:{line} -> {target}"
        for module in MODULES
        if _within(module, "adapters")
        for line, target in imports_of(module)
        if not _within(target, "adapters") and not any(_within(target, ok) for ok in ADAPTER_ALLOWED)
    ]
    assert not bad, "adapters reach past their helpers:\n" + "\n".join(bad)


def test_only_the_app_imports_the_api() -> None:
    bad = [
        f"{module} -> {target}"
        for module in MODULES
        if not _within(module, "gateway.api") and module != "gateway.app"
        for _, target in imports_of(module)
        if _within(target, "gateway.api")
    ]
    assert not bad, bad


def test_config_imports_nothing_above_it() -> None:
    """The bottom layer: gateway.config knows no feature, no adapter, no registry."""
    bad = [
        f"{module} -> {target}"
        for module in MODULES
        if _within(module, "gateway.config")
        for _, target in imports_of(module)
        if not _within(target, "gateway.config")
    ]
    assert not bad, bad


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("from gateway import upstream\n", "adapters.mock", "gateway.upstream"),
        ("def f():\n    from gateway.auth import siwx\n", "gateway.config.routing", "gateway.auth.siwx"),
        ("from . import policy\n", "gateway.config.routing", "gateway.config.policy"),
        ("import adapters.base\n", "gateway.config.routing", "adapters.base"),
    ],
)
def test_the_reader_sees_every_kind_of_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, module: str, expected: str
) -> None:
    """The checker itself: module-level, function-level, relative and `from package import module`."""
    fake = tmp_path / "m.py"
    fake.write_text(source)
    monkeypatch.setitem(MODULES, module, fake)
    assert expected in [target for _, target in imports_of(module)]
