"""deploy/k8s and deploy/compose.yaml: valid against the Kubernetes and Compose schemas, wired
together (selectors, probes, the store's claim, secrets the config names), and the INI files
they carry load in the gateway's own config loader."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from telemetryhub.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
BIN = Path(sys.executable).parent


def _k8s() -> dict[str, dict[str, Any]]:
    """Every resource of deploy/k8s by kind/name."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


def test_the_manifests_validate_strictly_against_the_kubernetes_schemas() -> None:
    files = [str(p) for p in sorted(K8S.glob("*.yaml")) if p.name != "kustomization.yaml"]
    result = subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "--quiet", *files],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(Path(f).name for f in files)


def test_the_statefulset_keeps_its_store_probes_health_and_ready_and_runs_unprivileged() -> None:
    resources = _k8s()
    sts = resources["StatefulSet/telemetryhub"]
    pod = sts["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert sts["spec"]["replicas"] == 1
    assert sts["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    for service in ("Service/telemetryhub", "Service/telemetryhub-headless"):
        assert resources[service]["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["data"] == "/var/lib/telemetryhub"
    assert "data" in claims
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def _ini_with_secrets(text: str, secrets: dict[str, str], tmp_path: Path) -> Settings:
    """Load an INI text with its *_file paths pointed at temp copies of `secrets`."""
    for name, value in secrets.items():
        (tmp_path / name).write_text(value)
    text = re.sub(r"(_file = )\S+/([a-z_]+)$", rf"\g<1>{tmp_path}/\g<2>", text, flags=re.M)
    path = tmp_path / "telemetryhub.ini"
    path.write_text(text)
    return load_settings(path, env={})


def test_the_configmap_loads_and_takes_every_secret_from_the_secret(tmp_path: Path) -> None:
    resources = _k8s()
    ini = resources["ConfigMap/telemetryhub-config"]["data"]["telemetryhub.ini"]
    secrets = resources["Secret/telemetryhub-secrets"]["stringData"]
    named = set(re.findall(r"_file = /run/secrets/telemetryhub/([a-z_]+)$", ini, re.M))
    assert named == set(secrets)  # every secret the config reads is in the Secret, and back
    settings = _ini_with_secrets(ini, secrets, tmp_path)
    assert settings.http.operator_token == secrets["operator_token"]
    assert settings.http.host == "0.0.0.0"
    assert settings.store.max_bytes > 0  # a service install bounds its store


def test_compose_validates_and_its_files_exist(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         str(DEPLOY / "compose.yaml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert set(compose["services"]) == {"gateway", "mosquitto", "prometheus", "grafana"}
    build = compose["services"]["gateway"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source
    settings = _ini_with_secrets(
        (DEPLOY / "compose" / "telemetryhub.ini").read_text(), {"viewer_token": "v"}, tmp_path
    )
    assert settings.mqtt.enabled
    assert settings.mqtt.host == "mosquitto"


@pytest.mark.parametrize(
    "path",
    [
        "grafana/provisioning/datasources/prometheus.yml",
        "grafana/provisioning/dashboards/telemetryhub.yml",
    ],
)
def test_grafana_provisioning_files_parse(path: str) -> None:
    assert yaml.safe_load((DEPLOY / path).read_text())["apiVersion"] == 1
