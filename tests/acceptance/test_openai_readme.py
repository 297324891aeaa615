"""The three lines of Python in README.md and docs/openai-compatibility.md, run as a new user would:
a key from `imagegate keys create`, its printed YAML entry pasted under `auth:`, `imagegate serve`,
then the snippet (with the real address and secret) in a fresh Python process."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from gateway.config import BUNDLED_CONFIG
from tests.acceptance.conftest import REPO, Served, run_cli, start_gateway, stop_gateway

pytestmark = pytest.mark.slow

MARKER = "<!-- openai-three-lines"


def snippet(doc: Path) -> str:
    text = doc.read_text()
    match = re.search(re.escape(MARKER) + r".*?-->\n```python\n(.*?)```", text, re.S)
    assert match is not None, f"{doc.name} lost its three-line snippet"
    return match.group(1)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    created = run_cli("keys", "create", "readme")
    assert created.returncode == 0, created.stderr
    secret, *rest = created.stdout.splitlines()
    entry = "\n".join(line for line in rest if not line.startswith("# paste"))
    tmp = tmp_path_factory.mktemp("readme")
    routing = tmp / "routing.yaml"
    routing.write_text(Path(BUNDLED_CONFIG).read_text().rstrip("\n") + "\n" + entry + "\n")
    served = start_gateway(tmp, "--config", str(routing))
    try:
        yield served, secret
    finally:
        stop_gateway(served)


@pytest.mark.parametrize("doc", ["README.md", "docs/openai-compatibility.md"])
def test_three_lines_of_python_make_an_image(keyed: tuple[Served, str], doc: str, tmp_path: Path) -> None:
    served, secret = keyed
    code = snippet(REPO / doc)
    assert len(code.splitlines()) == 3 and 'api_key="igk_..."' in code
    code = code.replace("http://127.0.0.1:8000", served.url).replace("igk_...", secret)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "lighthouse.png") as image:
        assert image.format == "PNG" and image.size == (512, 512)
