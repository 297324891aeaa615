"""deploy/k8s: every manifest parses, validates against the Kubernetes schemas, references only
files and objects that exist, and its probes, ports and env names match the gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_validate import validate
from kubernetes_validate.utils import ValidationError

from gateway.app import create_app
from gateway.config import parse_config
from gateway.settings import Settings
from tests.deploy.support import ROOT, settings_env_names

K8S = ROOT / "deploy/k8s"
K8S_VERSION = "1.30.0"  # oldest still-supported minor we promise; schemas are bundled with the package
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}


def load_all() -> dict[str, dict[str, Any]]:
    objects: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                objects[doc["kind"]] = doc
    return objects


@pytest.fixture(scope="module")
def objects() -> dict[str, dict[str, Any]]:
    return load_all()


def container(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    containers = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]  # type: ignore[no-any-return]


def test_kustomization_lists_every_manifest_and_nothing_else() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_every_core_manifest_validates_against_the_kubernetes_schema(
    objects: dict[str, dict[str, Any]],
) -> None:
    kinds = set(objects)
    assert {
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    } <= kinds
    for kind, doc in objects.items():
        if kind not in CRD_KINDS:
            validate(doc, K8S_VERSION, strict=True)
    broken = yaml.safe_load(yaml.safe_dump(objects["Deployment"]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}  # a typo in a key
    with pytest.raises(ValidationError):  # strict validation really rejects unknown keys
        validate(broken, K8S_VERSION, strict=True)


def test_probes_hit_the_gateway_routes_on_the_named_port(objects: dict[str, dict[str, Any]]) -> None:
    paths = {route.path for route in create_app(Settings()).routes}
    c = container(objects)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz" in paths
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz" in paths
    port = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert c["readinessProbe"]["httpGet"]["port"] == c["livenessProbe"]["httpGet"]["port"] == "http"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert str(port["http"]) == env["IMAGEGATE_PORT"]
    service_port = objects["Service"]["spec"]["ports"][0]
    assert service_port["targetPort"] == "http" and service_port["name"] == "http"
    endpoint = objects["ServiceMonitor"]["spec"]["endpoints"][0]
    assert endpoint["port"] == service_port["name"] and endpoint["path"] == "/metrics" and "/metrics" in paths
    # The Operator names the scrape job after the Service; the alert rules select job="imagegate".
    assert objects["Service"]["metadata"]["name"] == "imagegate"
    assert 'up{job="imagegate"}' in yaml.safe_dump(objects["PrometheusRule"]["spec"], width=1000)


def test_env_names_are_the_ones_the_gateway_reads(objects: dict[str, dict[str, Any]]) -> None:
    c = container(objects)
    env_names = {e["name"] for e in c["env"]}
    secret = objects["Secret"]
    secret_names = set(secret["stringData"])
    known = settings_env_names()
    assert env_names <= known
    assert secret_names - {n for n in secret_names if n.endswith("_API_KEY")} <= known
    assert "REDIS_URL" in secret_names, "replicas must share Redis"
    assert [ref["secretRef"]["name"] for ref in c["envFrom"]] == [secret["metadata"]["name"]]
    assert all(value == "" for name, value in secret["stringData"].items() if name.endswith("_API_KEY"))


def test_routing_configmap_is_mounted_where_imagegate_config_points(
    objects: dict[str, dict[str, Any]],
) -> None:
    c = container(objects)
    config_path = Path(next(e["value"] for e in c["env"] if e["name"] == "IMAGEGATE_CONFIG"))
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == str(config_path.parent))
    volume = next(
        v for v in objects["Deployment"]["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]
    )
    configmap = objects["ConfigMap"]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    item = volume["configMap"]["items"][0]
    assert item["path"] == config_path.name
    routing = parse_config(configmap["data"][item["key"]], source="configmap")
    assert routing.auth.enabled and routing.auth.domains
    hpa_max = objects["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]
    assert routing.limits.replicas == hpa_max, "degraded limiter: limit ÷ the most pods there can be"
    grace = objects["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > routing.server.request_deadline_seconds, "in-flight requests finish on shutdown"


def test_selectors_match_the_pods(objects: dict[str, dict[str, Any]]) -> None:
    deployment = objects["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        objects["Service"]["spec"]["selector"],
        objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= pod_labels.items()
    assert (
        objects["ServiceMonitor"]["spec"]["selector"]["matchLabels"].items()
        <= objects["Service"]["metadata"]["labels"].items()
    )
    target = objects["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    hpa_min = objects["HorizontalPodAutoscaler"]["spec"]["minReplicas"]
    assert hpa_min > objects["PodDisruptionBudget"]["spec"]["maxUnavailable"]


def test_pods_run_as_the_images_non_root_user_with_resources(objects: dict[str, dict[str, Any]]) -> None:
    from tests.deploy.test_compose_and_dockerfile import dockerfile_instructions

    user = [rest for word, rest in dockerfile_instructions() if word == "USER"][-1].split(":")[0]
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and str(pod["securityContext"]["runAsUser"]) == user
    resources = container(objects)["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]


def test_prometheus_rule_carries_the_shipped_alert_rules(objects: dict[str, dict[str, Any]]) -> None:
    shipped = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    assert objects["PrometheusRule"]["spec"] == shipped
