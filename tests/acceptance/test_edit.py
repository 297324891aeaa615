"""POST /api/v1/image/edit through a real `imagegate serve` (bundled routing, SIWX on): each output
type and `stream: true`, the `imagegate edit` command, and every example of docs/editing.md run as
written (port 8000 swapped for the test server's)."""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import msgspec
import pytest
from httpx_sse import connect_sse
from PIL import Image

from gateway.client import EDIT_PATH, EvmSigner, sign_header
from gateway.schemas import GenerateResponse
from tests.acceptance.conftest import REPO, Served, clean_env, imagegate_command, run_cli
from tests.deploy.support import doc_blocks, doc_command, runner_of

pytestmark = pytest.mark.slow

DOC = REPO / "docs/editing.md"
BASE = (REPO / "docs/images/edit-base.png").read_bytes()
MASK = (REPO / "docs/images/edit-mask.png").read_bytes()
DOOR_PIXEL, WALL_PIXEL = (128, 140), (160, 140)  # inside the mask's hole / outside it


def data_url(data: bytes) -> dict[str, str]:
    return {"b64": "data:image/png;base64," + base64.b64encode(data).decode()}


def signed(url: str) -> dict[str, str]:
    return {"Sign-In-With-X": sign_header(url, EvmSigner.throwaway())}


def body(**extra: object) -> dict[str, object]:
    return {
        "model": "mock-image",
        "prompt": "a red door",
        "images": [data_url(BASE)],
        "mask": data_url(MASK),
        "seed": 7,
        **extra,
    }


def check_edited(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    with Image.open(io.BytesIO(BASE)) as base:
        assert image.size == base.size == (256, 192)  # no size asked: the base image's
        base_rgb = base.convert("RGB")
        assert _distance(image.getpixel(WALL_PIXEL), base_rgb.getpixel(WALL_PIXEL)) <= 8  # kept (opaque)
        assert _distance(image.getpixel(DOOR_PIXEL), base_rgb.getpixel(DOOR_PIXEL)) > 40  # edited (alpha 0)
    return image


def _distance(a: object, b: object) -> int:
    assert isinstance(a, tuple) and isinstance(b, tuple)
    return max(abs(int(x) - int(y)) for x, y in zip(a, b, strict=True))


def test_edit_returns_data_urls_with_input_images(gateway: Served, http: httpx.Client) -> None:
    url = gateway.url + EDIT_PATH
    response = http.post(url, json=body(n=2), headers=signed(url))
    assert response.status_code == 200, response.text
    answer = msgspec.json.decode(response.content, type=GenerateResponse)
    assert answer.status == "completed" and len(answer.images) == 2
    assert response.json()["input_images"] == [{"width": 256, "height": 192}]
    for image in answer.images:
        check_edited(base64.b64decode(image.data_url.split(",", 1)[1]))


def test_edit_file_output(gateway: Served, http: httpx.Client) -> None:
    url = gateway.url + EDIT_PATH
    response = http.post(url, json=body(output_type="file", output_format="webp"), headers=signed(url))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp" and response.headers["x-image-seed"] == "7"
    check_edited(response.content)


def test_edit_stream(gateway: Served, http: httpx.Client) -> None:
    url = gateway.url + EDIT_PATH
    with connect_sse(http, "POST", url, json=body(stream=True), headers=signed(url)) as source:
        assert source.response.headers["content-type"].startswith("text/event-stream")
        events = list(source.iter_sse())
    names = [event.event for event in events]
    assert names[-1] == "completed" and "progress" in names and names.count("image") == 1
    assert [event.id for event in events] == [str(i) for i in range(1, len(events) + 1)]
    final = msgspec.json.decode(events[-1].data)
    assert final["input_images"] == [{"width": 256, "height": 192}]
    check_edited(base64.b64decode(final["images"][0]["data_url"].split(",", 1)[1]))


def test_edit_without_a_signature_is_401_and_bad_input_is_400(gateway: Served, http: httpx.Client) -> None:
    url = gateway.url + EDIT_PATH
    assert http.post(url, json=body()).json()["error"]["code"] == "auth_missing"
    refused = http.post(url, json=body(mask=data_url(_png((32, 32)))), headers=signed(url))
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "mask"


def _png(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size).save(out, format="PNG")
    return out.getvalue()


def test_cli_reports_errors_in_one_line(gateway: Served, tmp_path: Path) -> None:
    missing = run_cli("edit", str(tmp_path / "nope.png"), "--prompt", "x", "--url", gateway.url)
    assert (
        missing.returncode == 2 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr
    )
    text = tmp_path / "notes.txt"
    text.write_text("not a picture")
    wrong = run_cli("edit", str(text), "--prompt", "x", "--url", gateway.url)
    assert wrong.returncode == 2 and "not a PNG, JPEG or WebP" in wrong.stderr
    mask = tmp_path / "mask.png"
    mask.write_bytes(_png((32, 32)))
    refused = run_cli(
        "edit", "docs/images/edit-base.png", "--mask", str(mask), "--prompt", "x", "--url", gateway.url
    )
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "invalid_request" in refused.stderr


def test_cli_stream_saves_the_edit(gateway: Served, tmp_path: Path) -> None:
    done = run_cli(
        "edit",
        "docs/images/edit-base.png",
        "--mask",
        "docs/images/edit-mask.png",
        "--prompt",
        "x",
        "--stream",
        "-n",
        "2",
        "--url",
        gateway.url,
        "--out-dir",
        str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    paths = done.stdout.split()
    assert len(paths) == 2
    for path in paths:
        check_edited(Path(path).read_bytes())


# ---- docs/editing.md, run as written ----------------------------------------------------------


def _workdir(tmp_path: Path) -> Path:
    """A directory where the docs' relative paths (docs/images/...) resolve, outputs land in tmp."""
    (tmp_path / "docs").symlink_to(REPO / "docs")
    return tmp_path


def _env(gateway: Served) -> dict[str, str]:
    env = clean_env()
    env["PATH"] = f"{Path(imagegate_command()).parent}:{env.get('PATH', '')}"
    env["IMAGEGATE_URL"] = gateway.url
    return env


def _port(gateway: Served) -> str:
    return ":" + gateway.url.rsplit(":", 1)[1]


def test_docs_cli_example(gateway: Served, tmp_path: Path) -> None:
    command = doc_command(DOC, "test_docs_cli_example")
    work = _workdir(tmp_path)
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=work,
        env=_env(gateway),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (path,) = done.stdout.split()
    check_edited((work / path).read_bytes())


def test_docs_curl_example(gateway: Served, tmp_path: Path) -> None:
    command = doc_command(DOC, "test_docs_curl_example").replace(":8000", _port(gateway))
    work = _workdir(tmp_path)
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=work,
        env=_env(gateway),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    check_edited((work / "edited.png").read_bytes())


def test_docs_python_example(gateway: Served, tmp_path: Path) -> None:
    code = doc_command(DOC, "test_docs_python_example").replace(":8000", _port(gateway))
    work = _workdir(tmp_path)
    (work / "example.py").write_text(code)
    done = subprocess.run(
        [sys.executable, "example.py"],
        cwd=work,
        env=_env(gateway),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[{'width': 256, 'height': 192}] [(256, 192)]"


def test_docs_js_example(gateway: Served, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    code = doc_command(DOC, "test_docs_js_example").replace(":8000", _port(gateway))
    work = _workdir(tmp_path)
    (work / "example.mjs").write_text(code)
    env = {**_env(gateway), "SIWX": signed(gateway.url + EDIT_PATH)["Sign-In-With-X"]}
    done = subprocess.run(
        [node, "example.mjs"], cwd=work, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '[{"width":256,"height":192}] 1'


def test_every_docs_example_is_run_here() -> None:
    runners = [runner_of(block) for block in doc_blocks(DOC) if block.language in {"sh", "python", "js"}]
    assert runners and all(runners), "an example of docs/editing.md has no tested-by marker"
    source = Path(__file__).read_text()
    for runner in runners:
        assert runner is not None and runner.startswith("tests/acceptance/test_edit.py::")
        assert f"def {runner.split('::')[1]}(" in source


def test_doc_pictures_are_what_the_script_draws() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import make_edit_doc_images as script
    finally:
        sys.path.remove(str(REPO / "scripts"))
    for name, draw in script.PICTURES.items():
        assert (REPO / "docs/images" / name).read_bytes() == draw(), f"regenerate docs/images/{name}"
    with Image.open(io.BytesIO(MASK)) as mask:
        alpha = mask.getchannel("A")
        assert alpha.getpixel(DOOR_PIXEL) == 0 and alpha.getpixel(WALL_PIXEL) == 255
    assert os.path.getsize(REPO / "docs/images/edit-base.png") < 10_000
