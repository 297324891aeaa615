"""docker-compose.yml, the Dockerfile and .dockerignore: they parse, reference files that exist, and
their ports, probe paths and env names match the gateway's settings. (No Docker engine here: what
only a `docker compose up` can show is listed in docs/operations.md.)"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from gateway.app import create_app
from gateway.config import load_config
from gateway.settings import Settings
from tests.deploy.support import ROOT, settings_env_names

COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:  # type: ignore[type-arg]
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def app_paths() -> set[str]:
    app = create_app(Settings())
    return {route.path for route in app.routes}


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def dockerfile_env() -> dict[str, str]:
    """ENV of the final (runtime) stage."""
    instructions = dockerfile_instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    env: dict[str, str] = {}
    for word, rest in instructions[last_from:]:
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def env_example_names() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            names.add(line.split("=", 1)[0].strip())
    return names


def test_compose_validates_against_the_compose_spec_schema(compose: dict) -> None:  # type: ignore[type-arg]
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(compose, schema)
    broken = json.loads(json.dumps(compose))
    broken["services"]["gateway"]["helthcheck"] = {"test": ["CMD", "true"]}  # a typo in a key
    with pytest.raises(jsonschema.ValidationError):  # the schema is really checked
        jsonschema.validate(broken, schema)


def test_compose_bind_mounts_exist_and_are_read_only(compose: dict) -> None:  # type: ignore[type-arg]
    mounts = 0
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source, _target, *mode = volume.split(":")
            if source.startswith("./"):
                mounts += 1
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
                assert mode == ["ro"], f"{name}: config mount {source} should be read-only"
            else:
                assert source in compose["volumes"], f"{name}: unknown named volume {source}"
    assert mounts >= 5
    assert (ROOT / compose["services"]["gateway"]["build"] / "Dockerfile").is_file()


def test_compose_gateway_env_matches_the_settings(compose: dict) -> None:  # type: ignore[type-arg]
    gateway = compose["services"]["gateway"]
    env = gateway["environment"]
    known = settings_env_names()
    assert {"IMAGEGATE_CONFIG", "REDIS_URL", "IMAGEGATE_PORT"} <= known
    provider_keys = {name for name in env if name.endswith("_API_KEY")}
    assert set(env) - provider_keys <= known, (
        f"env names the gateway does not read: {set(env) - provider_keys - known}"
    )
    # The routing file is mounted where IMAGEGATE_CONFIG points, and it is a valid routing file.
    mounts = {target: source for source, target, *_ in (v.split(":") for v in gateway["volumes"])}
    source = mounts[env["IMAGEGATE_CONFIG"]]
    config = load_config(ROOT / source)
    assert "mock" in {d.provider for m in config.models.values() for d in m.deployments}
    assert {p.adapter for p in config.providers.values()} == {"mock"}, "the default stack must need no key"
    # Redis is the compose service, on Redis' port.
    redis_url = re.match(r"^redis://([\w.-]+):(\d+)/\d+$", env["REDIS_URL"])
    assert redis_url and redis_url.group(1) in compose["services"] and redis_url.group(2) == "6379"
    assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    # The port the gateway listens on is the one the network sees, and the image's default.
    assert gateway["expose"] == [env["IMAGEGATE_PORT"]] == [dockerfile_env()["IMAGEGATE_PORT"]]
    assert gateway["deploy"]["replicas"] >= 2
    assert config.limits.replicas == gateway["deploy"]["replicas"], (
        "the degraded limiter divides by the replicas"
    )
    assert config.limits.trusted_proxies, "behind the load balancer the client address is in X-Forwarded-For"
    assert "ports" not in gateway, "replicas are reached through the load balancer, not published ports"


def test_compose_keys_come_from_dotenv(compose: dict) -> None:  # type: ignore[type-arg]
    text = COMPOSE.read_text()
    variables = set(re.findall(r"\$\{(\w+)(?::?-[^}]*)?\}", text))
    assert variables, "provider keys are interpolated from .env"
    assert variables <= env_example_names(), (
        f"undocumented in .env.example: {variables - env_example_names()}"
    )
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    for line in (ROOT / ".env.example").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            assert line.split("=", 1)[1].strip() == "", f"no value may be committed: {line}"


def test_load_balancer_routes_to_every_replica(compose: dict) -> None:  # type: ignore[type-arg]
    lb = compose["services"]["lb"]
    conf = (ROOT / "deploy/compose/nginx.conf").read_text()
    port = compose["services"]["gateway"]["environment"]["IMAGEGATE_PORT"]
    assert re.search(rf"http://gateway:{port};", conf), "proxies to the gateway service on its port"
    assert "resolver 127.0.0.11" in conf and "proxy_pass $" in conf, "re-resolves the replicas via Docker DNS"
    listen = re.search(r"listen (\d+);", conf)
    assert listen and lb["ports"] == [f"127.0.0.1:{listen.group(1)}:{listen.group(1)}"]
    # Clients sign for the address they use: the load balancer's.
    auth = load_config(ROOT / "deploy/routing.yaml").auth
    assert auth.enabled and f"localhost:{listen.group(1)}" in auth.domains


def test_prometheus_scrapes_every_replica_and_loads_the_rules(compose: dict) -> None:  # type: ignore[type-arg]
    service = compose["services"]["prometheus"]
    mounts = {target: source for source, target, *_ in (v.split(":") for v in service["volumes"])}
    config_arg = next(a for a in service["command"] if a.startswith("--config.file="))
    config_path = Path(config_arg.split("=", 1)[1])
    host_dir = ROOT / mounts[str(config_path.parent)]
    config = yaml.safe_load((host_dir / config_path.name).read_text())
    for rule_file in config["rule_files"]:
        assert (host_dir / rule_file).is_file()
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "imagegate")
    assert job["metrics_path"] == "/metrics" and "/metrics" in app_paths()
    sd = job["dns_sd_configs"][0]
    assert sd["names"] == ["gateway"] and sd["type"] == "A"
    assert str(sd["port"]) == compose["services"]["gateway"]["environment"]["IMAGEGATE_PORT"]


def test_grafana_is_provisioned_with_the_datasource_and_dashboard(compose: dict) -> None:  # type: ignore[type-arg]
    service = compose["services"]["grafana"]
    mounts = {target: ROOT / source for source, target, *_ in (v.split(":") for v in service["volumes"])}
    provisioning = mounts["/etc/grafana/provisioning"]
    datasource = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())["datasources"][0]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    assert (
        "prometheus" in compose["services"]
        and "127.0.0.1:9090:9090" in compose["services"]["prometheus"]["ports"]
    )
    provider = yaml.safe_load((provisioning / "dashboards/imagegate.yml").read_text())["providers"][0]
    dashboards = mounts[provider["options"]["path"]]
    assert (dashboards / "imagegate.json").is_file()
    home = service["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(provider["options"]["path"] + "/")
    assert (dashboards / Path(home).name).is_file()


def test_redis_persistence_choice_is_explicit(compose: dict) -> None:  # type: ignore[type-arg]
    command = compose["services"]["redis"]["command"]
    options = dict(zip(command[1::2], command[2::2], strict=True))
    assert options["--appendonly"] == "yes" and options["--maxmemory-policy"] == "noeviction"
    assert any(v.startswith("redis-data:/data") for v in compose["services"]["redis"]["volumes"])
    assert "noeviction" in (ROOT / "docs/operations.md").read_text()


def test_dockerfile_is_multistage_slim_nonroot_with_healthcheck() -> None:
    instructions = dockerfile_instructions()
    froms = [rest for word, rest in instructions if word == "FROM"]
    assert len(froms) >= 2, "multi-stage"
    base = next(rest for word, rest in instructions if word == "ARG" and rest.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11-slim(-\w+)?", base)
    user = [rest for word, rest in instructions if word == "USER"][-1]
    assert user.split(":")[0] not in {"0", "root"}
    entrypoint = json.loads(next(rest for word, rest in instructions if word == "ENTRYPOINT"))
    assert entrypoint[:2] == ["imagegate", "serve"] and entrypoint[2:] == ["--host", "0.0.0.0"]
    assert 'imagegate = "gateway.cli:main"' in (ROOT / "pyproject.toml").read_text()
    healthcheck = next(rest for word, rest in instructions if word == "HEALTHCHECK")
    command = json.loads(healthcheck.split("CMD", 1)[1])
    assert command[0] == "python" and "/healthz" in command[-1] and "/healthz" in app_paths()
    assert (
        set(dockerfile_env()) - {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
        <= settings_env_names()
    )
    exposed = [rest for word, rest in instructions if word == "EXPOSE"]
    assert exposed == [dockerfile_env()["IMAGEGATE_PORT"]]


def test_dockerfile_copies_only_existing_files_the_dockerignore_lets_through() -> None:
    allowed = {
        line.lstrip("!").rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    sources = []
    for word, rest in dockerfile_instructions():
        if word == "COPY" and "--from=" not in rest:
            sources.extend(rest.split()[:-1])
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed (apt-get install -y nginx)")
def test_load_balancer_config_passes_nginx_syntax_check(tmp_path: Path) -> None:
    """`nginx -t` on the shipped server block, inside the http{} context the nginx image provides."""
    conf = tmp_path / "nginx.conf"
    temp_paths = " ".join(
        f"{name}_temp_path {tmp_path / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf.write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\nevents {{}}\n"
        f"http {{\n access_log off;\n {temp_paths}\n include {ROOT / 'deploy/compose/nginx.conf'};\n}}\n"
    )
    nginx = str(shutil.which("nginx"))
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    conf.write_text(conf.read_text().replace("include", "include_typo"))
    assert (
        subprocess.run(
            [nginx, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, check=False
        ).returncode
        != 0
    )


def test_routing_examples_are_valid_once_uncommented(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The commented provider/model examples in deploy/routing.yaml are what an operator uncomments:
    they must validate, and every key they read must be one compose passes from .env."""
    example = re.compile(r"^(\s*)# (\s*)((?:- )?[A-Za-z_][\w-]*:(?:\s|$).*)$")
    text = (ROOT / "deploy/routing.yaml").read_text()
    uncommented = "\n".join(
        (m.group(1) + m.group(2) + m.group(3)) if (m := example.match(line)) else line
        for line in text.splitlines()
    )
    assert uncommented != text
    examples = [m.group(3) for line in text.splitlines() if (m := example.match(line))]
    variables = set(re.findall(r"\$\{(\w+)\}", "\n".join(examples)))
    compose = yaml.safe_load(COMPOSE.read_text())
    assert variables and variables <= set(compose["services"]["gateway"]["environment"]) & env_example_names()
    for name in variables:
        monkeypatch.setenv(name, "test-key")
    path = tmp_path / "routing.yaml"
    path.write_text(uncommented)
    config = load_config(path)
    assert {"openai", "flux", "local_diffusion"} <= set(config.providers)
    assert "dall-e-3" in config.models
