"""`a1111` and `comfyui` are kinds of their own; `local_diffusion` + `backend` is an alias for them.

The shipped routing files (which still say `local_diffusion`) load and build the split adapters;
the direct kinds send exactly what the alias sends; each kind refuses the other's settings naming
the key's path; the catalogue shows the kind as configured.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from adapters import registry
from adapters.a1111 import A1111Adapter, A1111Options
from adapters.comfyui import ComfyUIAdapter, ComfyUIOptions
from gateway import cli
from gateway.api.catalog import describe_models
from gateway.canonical import ImageRequest
from gateway.config import BUNDLED_CONFIG, ConfigError, load_config, parse_config
from gateway.runtime import Runtime
from tests.adapters.test_default_routing import uncommented as uncomment_bundled
from tests.adapters.test_mapping_defects import EXAMPLE
from tests.adapters.test_mapping_defects import uncommented as uncomment_example
from tests.fakes.a1111 import FakeA1111
from tests.fakes.base import ctx
from tests.fakes.comfyui import FakeComfy

ROOT = Path(__file__).resolve().parents[2]
A1111 = {"base_url": "http://sd.local:7860", "username": "u", "password": "p", "sampler_name": "Euler a"}
COMFY = {"base_url": "http://comfy.local:8188", "poll_interval_seconds": 0.0, "scheduler": "karras"}


def _deploy_routing_uncommented() -> str:
    """deploy/routing.yaml with its commented provider/model blocks on (as tests/deploy does it)."""
    example = re.compile(r"^(\s*)# (\s*)((?:- )?[A-Za-z_][\w-]*:(?:\s|$).*)$")
    text = (ROOT / "deploy/routing.yaml").read_text()
    return "\n".join(
        (m.group(1) + m.group(2) + m.group(3)) if (m := example.match(line)) else line
        for line in text.splitlines()
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (lambda: uncomment_bundled(BUNDLED_CONFIG.read_text()), {"local-sd": A1111Adapter, "local-comfy": ComfyUIAdapter}),
        (_deploy_routing_uncommented, {"local_diffusion": A1111Adapter}),
        (lambda: uncomment_example(EXAMPLE.read_text()), {"local_diffusion": A1111Adapter}),
    ],
    ids=["gateway/default_routing.yaml", "deploy/routing.yaml", "deploy/routing.example.yaml"],
)
async def test_shipped_routing_files_build_the_split_kinds(text, expected) -> None:  # type: ignore[no-untyped-def]
    config = parse_config(text())
    environ = {"OPENAI_API_KEY": "sk-x", "BFL_API_KEY": "bfl-x"}
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as client:
        runtime = Runtime.build(config, client, environ=environ)
        assert {name: type(runtime.adapters[name]) for name in expected} == expected
        await runtime.aclose()


def test_shipped_files_as_written_still_load() -> None:
    assert load_config(BUNDLED_CONFIG).providers
    assert load_config(ROOT / "deploy/routing.yaml").providers
    assert load_config(EXAMPLE).providers
    example = parse_config(uncomment_example(EXAMPLE.read_text()))
    assert example.providers["local_diffusion"].adapter == "a1111"  # the example prefers the new kind


async def _a1111_body(kind: str, settings: dict[str, object]) -> dict[str, object]:
    fake = FakeA1111()
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = registry.build_adapter(kind, provider="sd", settings=settings, client=client)
        assert isinstance(adapter, A1111Adapter) and adapter.capabilities("m").max_n == 10
        req = ImageRequest(model="m", prompt="fox", n=2, seed=5, steps=12, width=512, height=512)
        result = await adapter.generate(req, ctx("sd15", options={"scheduler": "Karras"}))
    assert [i.seed for i in result.images] == [5, 6]
    assert fake.requests[-1].headers["authorization"].startswith("Basic ")
    body: dict[str, object] = json.loads(fake.requests[-1].content)
    return body


async def test_adapter_a1111_sends_what_the_alias_sends() -> None:
    direct = await _a1111_body("a1111", A1111)
    alias = await _a1111_body("local_diffusion", {"backend": "a1111", **A1111})
    assert direct == alias
    assert direct["sampler_name"] == "Euler a" and direct["scheduler"] == "Karras" and direct["n_iter"] == 2


async def _comfy_graph(kind: str, settings: dict[str, object]) -> dict[str, object]:
    fake = FakeComfy()
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        adapter = registry.build_adapter(kind, provider="comfy", settings=settings, client=client)
        assert isinstance(adapter, ComfyUIAdapter) and adapter.capabilities("m").max_n == 1
        req = ImageRequest(model="m", prompt="fox", seed=9, negative_prompt="blur", lora_strength=40)
        result = await adapter.generate(req, ctx("sd15.safetensors", options={"sampler_name": "euler"}))
    assert result.images[0].seed == 9
    assert result.warnings == ["lora_strength: this workflow has no placeholder for it; dropped"]
    graph: dict[str, object] = fake.prompts[-1]["prompt"]
    return graph


async def test_adapter_comfyui_sends_what_the_alias_sends() -> None:
    direct = await _comfy_graph("comfyui", COMFY)
    alias = await _comfy_graph("local_diffusion", {"backend": "comfyui", **COMFY})
    assert direct == alias
    sampler = direct["3"]["inputs"]  # type: ignore[index]
    assert (sampler["seed"], sampler["sampler_name"], sampler["scheduler"]) == (9, "euler", "karras")


@pytest.mark.parametrize(
    ("provider", "path"),
    [
        # a ComfyUI-only key under an a1111 provider, directly and through the alias
        ("{adapter: a1111, settings: {workflow: {'1': {inputs: {}}}}}", "providers.p.settings.workflow"),
        ("{adapter: local_diffusion, settings: {backend: a1111, placeholders: {}}}", "providers.p.settings.placeholders"),
        ("{adapter: a1111, settings: {max_poll_errors: 3}}", "providers.p.settings.max_poll_errors"),
        # an A1111-only key under a comfyui provider
        ("{adapter: comfyui, settings: {username: u, password: p}}", "providers.p.settings.username"),
        ("{adapter: local_diffusion, settings: {backend: comfyui, max_n: 4}}", "providers.p.settings.max_n"),
        ("{adapter: comfyui, settings: {styles: [Anime]}}", "providers.p.settings.styles"),
        # `backend` belongs to the alias only
        ("{adapter: a1111, settings: {backend: a1111}}", "providers.p.settings.backend"),
        ("{adapter: local_diffusion, settings: {backend: invokeai}}", "providers.p.settings.backend"),
        # the kinds' own checks keep their paths
        ("{adapter: a1111, settings: {username: u}}", "providers.p.settings.password"),
        ("{adapter: comfyui, settings: {placeholders: {prompt: '99.text'}}}", "providers.p.settings.placeholders.prompt"),
        ("{adapter: a1111, settings: {max_n: many}}", "providers.p.settings.max_n"),
    ],
)
async def test_each_kind_refuses_the_other_kinds_settings_naming_the_path(provider: str, path: str) -> None:
    config = parse_config(f"providers:\n  p: {provider}\nmodels:\n  m:\n    deployments: [{{provider: p, model: x}}]\n")
    async with httpx.AsyncClient() as client:
        with pytest.raises(ConfigError) as info:
            Runtime.build(config, client)
    assert info.value.path == path, info.value


def test_check_config_names_a_foreign_setting(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        "providers:\n  sd: {adapter: a1111, settings: {workflow_path: /x.json}}\n"
        "models:\n  m: {deployments: [{provider: sd, model: x}]}\n"
    )
    assert cli.main(["check-config", str(routing)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {routing}: providers.sd.settings.workflow_path:"), err
    assert "'a1111'" in err


@pytest.mark.parametrize(
    ("kind", "struct", "bad"),
    [("a1111", A1111Options, "{sampler: x}"), ("comfyui", ComfyUIOptions, "{scheduler: 3}")],
)
def test_each_kind_declares_its_own_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, struct: type, bad: str
) -> None:
    assert registry.options_type(kind) is struct
    assert set(struct.__struct_fields__) == {"sampler_name", "scheduler"}
    routing = tmp_path / "routing.yaml"
    routing.write_text(
        f"providers:\n  p: {{adapter: {kind}}}\nmodels:\n  m:\n    deployments: [{{provider: p, model: x, options: {bad}}}]\n"
    )
    assert cli.main(["check-config", str(routing)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {routing}: models.m.deployments[0].options.")


async def test_catalogue_shows_the_kind_as_configured() -> None:
    config = parse_config(
        "providers:\n"
        "  old: {adapter: local_diffusion, settings: {backend: a1111}}\n"
        "  sd: {adapter: a1111}\n"
        "  comfy: {adapter: comfyui}\n"
        "models:\n"
        "  m: {deployments: [{provider: old, model: x}, {provider: sd, model: x}, {provider: comfy, model: x}]}\n"
    )
    async with httpx.AsyncClient() as client:
        runtime = Runtime.build(config, client)
        providers = describe_models(runtime).data[0].providers
        assert [(p.provider, p.adapter) for p in providers] == [
            ("old", "local_diffusion"),
            ("sd", "a1111"),
            ("comfy", "comfyui"),
        ]
        await runtime.aclose()


def test_no_import_loop_between_the_local_modules() -> None:
    """Each module loads alone and pulls in only what it uses: the websocket module knows nothing of
    the adapter, neither kind imports the other, and nothing below imports the alias."""
    code = (
        "import importlib, sys\n"
        "import adapters\n"
        "def loads(name):\n"
        "    before = set(sys.modules)\n"
        "    importlib.import_module(name)\n"
        "    return {m for m in set(sys.modules) - before if m.startswith('adapters.')}\n"
        "assert loads('adapters.comfyui_ws') == {'adapters.comfyui_ws'}, 'ws'\n"
        "a = loads('adapters.a1111')\n"
        "assert not {'adapters.comfyui', 'adapters.comfyui_workflow', 'adapters.local_diffusion'} & a, a\n"
        "c = loads('adapters.comfyui')\n"
        "assert not {'adapters.a1111', 'adapters.a1111_progress', 'adapters.local_diffusion'} & c, c\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    ws = (ROOT / "adapters/comfyui_ws.py").read_text()
    assert "TYPE_CHECKING" not in ws and "._queue" not in ws
