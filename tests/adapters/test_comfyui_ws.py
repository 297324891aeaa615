"""ComfyUI websocket frames -> progress / previews / end of our prompt, from the fixture messages."""

from __future__ import annotations

import json
from pathlib import Path

from adapters.comfyui_ws import PromptTracker, preview_frame
from gateway.canonical import PreviewImage, ProgressUpdate

MESSAGES = json.loads((Path(__file__).parent.parent / "fixtures/streaming/comfyui/ws_messages.json").read_text())
OURS = "0f6e3c2a-1b4d-4e8f-9a7b-6c5d4e3f2a1b"
JPEG = b"\xff\xd8\xff\xe0fake"


def test_fixture_sequence_for_our_prompt() -> None:
    tracker = PromptTracker(OURS)
    updates = []
    for message in MESSAGES:
        updates.append(tracker.on_text(json.dumps(message)))
        if message["type"] == "progress":
            updates.append(tracker.on_binary(preview_frame(JPEG)))
    assert [u for u in updates if u is not None] == [
        ProgressUpdate(step=10, total_steps=20),
        PreviewImage(data=JPEG),
    ]
    assert tracker.started and tracker.done and tracker.error is None


def test_other_prompts_and_their_previews_are_ignored() -> None:
    tracker = PromptTracker("someone-else")
    seen = [tracker.on_text(json.dumps(m)) for m in MESSAGES]
    assert seen == [None] * len(MESSAGES)
    tracker2 = PromptTracker(OURS)
    tracker2.on_text(json.dumps({"type": "executing", "data": {"node": "3", "prompt_id": "other"}}))
    assert tracker2.on_binary(preview_frame(JPEG)) is None  # the preview belongs to the other prompt
    assert not tracker.started and not tracker.done


def test_error_interrupt_and_malformed_frames() -> None:
    tracker = PromptTracker(OURS)
    error = {"prompt_id": OURS, "node_type": "KSampler", "exception_type": "torch.OutOfMemoryError"}
    assert tracker.on_text(json.dumps({"type": "execution_error", "data": error})) is None
    assert tracker.done and tracker.error == "KSampler failed: torch.OutOfMemoryError"
    interrupted = PromptTracker(OURS)
    interrupted.on_text(json.dumps({"type": "execution_interrupted", "data": {"prompt_id": OURS}}))
    assert interrupted.error == "the prompt was interrupted on the server"
    assert PromptTracker(OURS).on_text("not json") is None
    assert PromptTracker(OURS).on_text('{"type": "progress", "data": {"x": ' + "[" * 100_000) is None
    assert PromptTracker(OURS).on_binary(b"\x00\x00") is None


async def test_real_websocket_client_against_a_loopback_server() -> None:
    """The real `websockets` client (adapters.comfyui_ws.connect) reading text and binary frames."""
    from websockets.asyncio.server import ServerConnection, serve

    from adapters.comfyui_ws import _follow, connect, ws_url

    seen_paths: list[str] = []

    async def handler(socket: ServerConnection) -> None:
        seen_paths.append(socket.request.path if socket.request else "")
        for message in MESSAGES[:5]:
            await socket.send(json.dumps(message))
        await socket.send(preview_frame(JPEG))
        for message in MESSAGES[5:]:
            await socket.send(json.dumps(message))
        await socket.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        ws = await connect(ws_url(f"http://127.0.0.1:{port}/", "client-1"))
        tracker = PromptTracker(OURS)
        updates = [update async for update in _follow(ws, tracker)]
        await ws.close()
    assert seen_paths == ["/ws?clientId=client-1"]
    assert updates == [ProgressUpdate(step=10, total_steps=20), PreviewImage(data=JPEG)]
    assert tracker.done
