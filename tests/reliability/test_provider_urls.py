"""S7 / S11: provider-supplied URLs cannot steer credentials or downloads (through the whole app).

The gateway runs in-process with every provider call going through one recording transport that
plays BFL (api.bfl.ai submit, api.us1.bfl.ai polling, delivery-us1.bfl.ai results) and OpenAI.
The fake answers with polling URLs, redirects and result URLs that point elsewhere: other hosts,
scheme downgrades, userinfo, loopback, private and cloud-metadata addresses, `file://`. Because
every connection the gateway could make passes through this transport, "never contacted" is
observable exactly: no request to a non-allow-listed host, and the BFL key (`x-key`) only ever on
https requests to the allow-listed API hosts. The client gets 502/504 in the error shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest
from litestar.testing import AsyncTestClient

from gateway.app import create_app
from gateway.config import parse_config
from gateway.settings import Settings
from tests.reliability import figures
from tests.reliability.scenario import routing_yaml
from tests.support.images import png

pytestmark = pytest.mark.reliability

BFL_KEY = "bfl-CANARY-0d1e2f3a4b5c"
OPENAI_KEY = "sk-CANARY-9a8b7c6d5e4f"
API_HOSTS = {"api.bfl.ai", "api.us1.bfl.ai"}
DELIVERY = "delivery-us1.bfl.ai"
PRIVATE = ["127.0.0.1", "127.0.0.2", "169.254.169.254", "[::1]", "10.0.0.1", "localhost"]


PNG = png((1, 2, 3), (64, 64))


@dataclass
class Trick:
    polling_url: str = "https://api.us1.bfl.ai/v1/get_result?id=job1"
    sample_url: str = f"https://{DELIVERY}/results/job1/sample.png"
    submit_redirect: str | None = None
    poll_redirect: str | None = None
    download_redirect: str | None = None
    openai_url: str | None = None


@dataclass
class Recorder:
    trick: Trick
    seen: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        host, path, trick = request.url.host, request.url.path, self.trick
        if host == "api.bfl.ai" and request.method == "POST":
            if trick.submit_redirect:
                return httpx.Response(307, headers={"location": trick.submit_redirect})
            return httpx.Response(200, json={"id": "job1", "polling_url": trick.polling_url})
        if host == "api.us1.bfl.ai" and path == "/v1/get_result":
            if trick.poll_redirect:
                return httpx.Response(302, headers={"location": trick.poll_redirect})
            return httpx.Response(
                200, json={"id": "job1", "status": "Ready", "result": {"sample": trick.sample_url}}
            )
        if host == DELIVERY:
            if trick.download_redirect:
                return httpx.Response(302, headers={"location": trick.download_redirect})
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        if host == "api.openai.com":
            return httpx.Response(200, json={"created": 1, "data": [{"url": trick.openai_url}]})
        # Anything else is a host the gateway must never contact: answer as an attacker would.
        return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})

    def off_list(self) -> list[str]:
        allowed = API_HOSTS | {DELIVERY, "api.openai.com"}
        return [str(r.url) for r in self.seen if r.url.host not in allowed]

    def key_leaks(self) -> list[str]:
        return [
            str(r.url)
            for r in self.seen
            if BFL_KEY in str(r.headers.get("x-key", ""))
            and not (r.url.scheme == "https" and r.url.host in API_HOSTS)
        ]

    def download_credentials(self) -> list[str]:
        return [
            str(r.url)
            for r in self.seen
            if r.url.host not in API_HOSTS | {"api.openai.com"}
            and ({"x-key", "authorization", "api-key"} & {k.lower() for k in r.headers})
        ]


ROUTING = routing_yaml(
    providers={
        "bfl": {
            "adapter": "flux",
            "settings": {
                "api_key": BFL_KEY,
                "poll_interval_seconds": 0.01,
                "max_poll_errors": 1,
                # An operator who lists private hosts still gets the private-address guard.
                "download_hosts": ["*.bfl.ai", *(h.strip("[]") for h in PRIVATE)],
            },
        },
        "openai": {
            "adapter": "openai",
            "settings": {
                "api_key": OPENAI_KEY,
                "download_hosts": ["*.blob.core.windows.net", *(h.strip("[]") for h in PRIVATE)],
            },
        },
    },
    models={
        "flux": {"deployments": [{"provider": "bfl", "model": "flux-pro-1.1"}], "deadline_seconds": 10},
        "dalle": {"deployments": [{"provider": "openai", "model": "dall-e-3"}], "deadline_seconds": 10},
    },
)


async def run(trick: Trick, model: str = "flux") -> tuple[httpx.Response, Recorder]:
    recorder = Recorder(trick)
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder), follow_redirects=False)
    app = create_app(Settings(), config=parse_config(ROUTING), http=http)
    async with AsyncTestClient(app=app) as client:
        response = await client.post(
            "/api/v1/image/generate", json={"model": model, "prompt": "fox", "width": 1024, "height": 1024}
        )
    await http.aclose()
    return response, recorder


async def test_the_honest_flow_works_and_sends_the_key_only_to_the_api() -> None:
    response, recorder = await run(Trick())
    assert response.status_code == 200, response.text
    assert [r.url.host for r in recorder.seen] == ["api.bfl.ai", "api.us1.bfl.ai", DELIVERY]
    assert recorder.key_leaks() == [] and recorder.download_credentials() == []
    assert "x-key" in recorder.seen[0].headers and "x-key" not in recorder.seen[2].headers


TRICKS = {
    "polling_url other host": Trick(polling_url="https://evil.example/v1/get_result?id=job1"),
    "polling_url lookalike host": Trick(polling_url="https://api.bfl.ai.evil.example/v1/get_result?id=1"),
    "polling_url http downgrade": Trick(polling_url="http://api.us1.bfl.ai/v1/get_result?id=job1"),
    "polling_url userinfo": Trick(polling_url="https://u:p@api.us1.bfl.ai/v1/get_result?id=job1"),
    "polling_url metadata": Trick(polling_url="https://169.254.169.254/latest/meta-data/"),
    "submit 307 to other host": Trick(submit_redirect="https://evil.example/v1/flux-pro-1.1"),
    "poll 302 to other host": Trick(poll_redirect="https://evil.example/steal"),
    "sample other host": Trick(sample_url="https://evil.example/sample.png"),
    "sample file scheme": Trick(sample_url="file:///etc/passwd"),
    "sample http downgrade": Trick(sample_url=f"http://{DELIVERY}/results/job1/sample.png"),
    **{f"sample private {h}": Trick(sample_url=f"https://{h}/sample.png") for h in PRIVATE},
    **{f"download 302 to {h}": Trick(download_redirect=f"https://{h}/sample.png") for h in PRIVATE},
    "download 302 to other host": Trick(download_redirect="https://evil.example/sample.png"),
}
# Known defects, asserted as strict xfails (they turn red once fixed, so the mark is dropped then):
KNOWN_GAP: dict[str, str] = {}  # name -> why (none left: names are resolved, 3xx is a 502)
WRONG_STATUS: dict[str, str] = {}


def _case(name: str) -> object:
    reason = KNOWN_GAP.get(name) or WRONG_STATUS.get(name)
    return pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=reason)) if reason else name


@pytest.mark.parametrize("name", [_case(name) for name in sorted(TRICKS)])
async def test_bfl_url_tricks_never_leak_the_key_or_reach_a_forbidden_host(name: str) -> None:
    response, recorder = await run(TRICKS[name])
    assert recorder.key_leaks() == []
    assert recorder.download_credentials() == []
    assert recorder.off_list() == []
    assert response.status_code in (502, 504), response.text
    assert response.json()["error"]["code"] in ("upstream_error", "upstream_timeout")
    assert BFL_KEY not in response.text


@pytest.mark.parametrize("host", [h for h in PRIVATE if h != "localhost"] + ["evil.example"])
async def test_openai_result_url_to_private_or_unlisted_hosts_is_refused(host: str) -> None:
    response, recorder = await run(Trick(openai_url=f"https://{host}/img.png"), model="dalle")
    assert recorder.off_list() == [] and recorder.download_credentials() == []
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error"
    assert OPENAI_KEY not in response.text


async def test_summary_figures() -> None:
    """One pass over every trick, for docs/reliability.md (the per-trick tests above assert)."""
    contacted, leaks, statuses = [], 0, {}
    for name, trick in sorted(TRICKS.items()):
        response, recorder = await run(trick)
        leaks += len(recorder.key_leaks()) + len(recorder.download_credentials())
        statuses[name] = response.status_code
        if recorder.off_list():
            contacted.append(name)
    figures.record(
        "S7/S11 provider URL tricks (BFL)",
        tricks=len(TRICKS),
        key_or_credential_leaks=leaks,
        forbidden_host_contacted=contacted,
        answered_400_instead_of_502=sorted(n for n, s in statuses.items() if s == 400),
    )
    assert leaks == 0
    assert set(contacted) <= set(KNOWN_GAP)
