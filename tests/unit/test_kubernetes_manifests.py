"""deploy/kubernetes: the kustomize base, every overlay and the optional components, checked offline.

No kubectl or kustomize: each overlay is resolved here with the few kustomize features they use
(resources, components, namespace, images, strategic-merge patches), and any other
kustomization field fails the test rather than being ignored. Every object is validated against
the Kubernetes JSON schemas of KUBERNETES_VERSION in strict mode (kubernetes-validate bundles
them; no network; the Prometheus Operator's ServiceMonitor, a custom resource it has no schema
for, is checked field by field instead), then the references between objects, and between the
objects and Gatehouse, are checked: selectors, ports, probes, ConfigMap and Secret keys,
environment names, the drain timing of gunicorn.conf.py, the Ingress's auth annotations.
"""
from __future__ import annotations

import copy
import json
import re
import secrets
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from app.named_files import read_named_files
from app.settings import ENV_NAMES, SECRET_KEYS, load_settings

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
BASE = KUBE / "base"
OVERLAY = KUBE / "overlays" / "example"
SECRET_TEMPLATE = BASE / "secret-template.yaml"
COMPONENTS = KUBE / "components"
CONFIG_FILE_TEMPLATE = COMPONENTS / "config-from-secret" / "config-file-secret-template.yaml"
# The one image name the base's Deployments use; each overlay's `images:` names the real one.
IMAGE_PLACEHOLDER = "gatehouse:REPLACE_ME"
KUBERNETES_VERSION = "1.30"

# What the check answers and the upstream needs (docs/auth.md; the BFF's
# access token in Authorization).
IDENTITY_HEADERS = ("mia-userid", "mia-groups", "mia-userproperties", "mia-clienttype", "mia-allowed",
                    "Authorization")
# Set or cleared toward the upstream by the shipped nginx config, less what ingress-nginx sets itself
# (Host, X-Forwarded-For/-Host/-Port/-Proto, X-Real-IP), plus the Traefik/Caddy dialect headers.
UPSTREAM_CLEARED = tuple(sorted({
    name.lower() for name, _ in re.findall(r"^proxy_set_header (\S+) (.+);$",
                                           (ROOT / "deploy/nginx/gatehouse-upstream-headers.conf").read_text(), re.M)
} - {"host", "x-forwarded-for", "x-forwarded-host", "x-forwarded-port", "x-forwarded-proto", "x-real-ip"}
  | {"x-forwarded-uri", "x-forwarded-method"}))
KUSTOMIZATION_FIELDS = {"apiVersion", "kind", "namespace", "resources", "components", "images", "patches"}
CLUSTER_SCOPED = {"Namespace"}


# --- a small kustomize --------------------------------------------------------------------

def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def strategic_merge(target: Any, patch: Any) -> Any:
    """Maps merge key by key; lists of named maps (containers, env, ports, volumes) merge by
    name; any other list, and scalars, are replaced. No `$patch` directives."""
    if isinstance(target, dict) and isinstance(patch, dict):
        assert not any(k.startswith("$") for k in patch), "strategic-merge directives are not resolved here"
        merged = dict(target)
        for key, value in patch.items():
            merged[key] = strategic_merge(target[key], value) if key in target else copy.deepcopy(value)
        return merged
    if (isinstance(target, list) and isinstance(patch, list)
            and all(isinstance(x, dict) and "name" in x for x in target + patch)):
        merged_list = [copy.deepcopy(x) for x in target]
        for item in patch:
            same = [i for i, x in enumerate(merged_list) if x["name"] == item["name"]]
            if same:
                merged_list[same[0]] = strategic_merge(merged_list[same[0]], item)
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    if obj["kind"] != "Deployment":
        return []
    spec = obj["spec"]["template"]["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def build(directory: Path, objects: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """A Kustomization from its resources; a Component (kind: Component) applied to `objects`, the
    resources of the kustomization that lists it, before that kustomization's own patches."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZATION_FIELDS
    assert not unknown, f"{directory}: kustomization fields this test does not resolve: {sorted(unknown)}"
    component = kustomization["kind"] == "Component"
    assert component == (objects is not None), f"{directory}: a Component is only listed under components:"
    assert kustomization["apiVersion"] == ("kustomize.config.k8s.io/v1alpha1" if component
                                           else "kustomize.config.k8s.io/v1beta1")
    objects = objects if objects is not None else []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        objects += build(path) if path.is_dir() else load_documents(path)
    for entry in kustomization.get("components", []):
        objects = build((directory / entry).resolve(), objects)
    for patch_entry in kustomization.get("patches", []):
        assert set(patch_entry) == {"path"}, "only patches given by path (strategic merge, by kind and name)"
        for patch in load_documents(directory / patch_entry["path"]):
            matches = [i for i, o in enumerate(objects)
                       if o["kind"] == patch["kind"] and o["metadata"]["name"] == patch["metadata"]["name"]]
            assert len(matches) == 1, f"patch {patch_entry['path']} matches {len(matches)} objects"
            objects[matches[0]] = strategic_merge(objects[matches[0]], patch)
    for image in kustomization.get("images", []):
        used = 0
        for obj in objects:
            for container in containers(obj):
                name, _, tag = container["image"].partition(":")
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
                    used += 1
        assert used, f"images: {image['name']} names no container image"
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    return objects


OVERLAYS = {f"overlays/{d.name}": d for d in sorted((KUBE / "overlays").iterdir()) if d.is_dir()}
BUILDS = {"base": BASE, **OVERLAYS}
# Custom resources: kubernetes-validate bundles no schema for them (checked by their own tests).
CUSTOM_KINDS = {"ServiceMonitor"}


@pytest.fixture(scope="module", params=sorted(BUILDS))
def built(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, build(BUILDS[request.param])


@pytest.fixture(scope="module")
def overlay() -> list[dict[str, Any]]:
    return build(OVERLAY)


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def secret_template() -> dict[str, Any]:
    (secret,) = load_documents(SECRET_TEMPLATE)
    return secret


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def literal_env(container: dict[str, Any]) -> dict[str, str]:
    return {name: e["value"] for name, e in env_of(container).items() if "value" in e}


def deployments(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for deployment in of_kind(objects, "Deployment"):
        for container in containers(deployment):
            yield deployment, container


# --- schemas ------------------------------------------------------------------------------

def test_every_document_validates_strictly(built: tuple[str, list[dict[str, Any]]]) -> None:
    name, objects = built
    assert objects, name
    for obj in objects + [secret_template(), *load_documents(CONFIG_FILE_TEMPLATE)]:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {obj['kind']}/{obj['metadata']['name']}: {exc.message}")


def test_every_manifest_file_is_a_resource() -> None:
    """A file in base/ that the kustomization forgets would never be applied."""
    listed = set(yaml.safe_load((BASE / "kustomization.yaml").read_text())["resources"])
    files = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml", SECRET_TEMPLATE.name}
    assert files == listed
    # The Secret is never created by the base: `kubectl apply -k` must not overwrite real values.
    assert not of_kind(build(BASE), "Secret")
    assert all(v == "" for v in secret_template()["stringData"].values()), "no literal secret values"
    for component in COMPONENTS.iterdir():
        kustomization = yaml.safe_load((component / "kustomization.yaml").read_text())
        listed = set(kustomization.get("resources", [])) | {p["path"] for p in kustomization.get("patches", [])}
        files = {p.name for p in component.glob("*.yaml")} - {"kustomization.yaml"}
        assert files - listed == {p.name for p in component.glob("*-template.yaml")}, component.name


def test_every_component_is_used_by_an_overlay() -> None:
    """A component no overlay lists would never be rendered nor validated here."""
    used = {(directory / entry).resolve() for directory in OVERLAYS.values()
            for entry in yaml.safe_load((directory / "kustomization.yaml").read_text()).get("components", [])}
    assert used == {c.resolve() for c in COMPONENTS.iterdir() if c.is_dir()}
    # Optional means not in the base nor in the example overlay.
    assert not of_kind(build(OVERLAY), "ServiceMonitor")


def test_the_image_is_one_placeholder_each_overlay_names(built: tuple[str, list[dict[str, Any]]]) -> None:
    name, objects = built
    images = {c["image"] for _, c in deployments(objects)}
    if name == "base":
        assert images == {IMAGE_PLACEHOLDER}
    else:
        (image,) = images
        assert "REPLACE_ME" not in image and ":" in image, f"{name}: an overlay names the real image ({image})"


def test_the_two_process_groups() -> None:
    objects = build(BASE)
    roles = {d["metadata"]["name"]: literal_env(c).get("GATEHOUSE_ROLE", "all") for d, c in deployments(objects)}
    assert roles == {"gatehouse-check": "check", "gatehouse": "all"}


# --- references between objects -----------------------------------------------------------

def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_selectors_match_their_pods(built: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = built
    for deployment in of_kind(objects, "Deployment"):
        assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels(deployment))
    for kind, path in (("Service", ("spec", "selector")), ("PodDisruptionBudget", ("spec", "selector", "matchLabels"))):
        for obj in of_kind(objects, kind):
            selector = obj
            for key in path:
                selector = selector[key]
            matched = [d["metadata"]["name"] for d in of_kind(objects, "Deployment") if selects(selector, pod_labels(d))]
            assert len(matched) == 1, f"{kind}/{obj['metadata']['name']} selects {matched}"


def container_port(container: dict[str, Any], port: int | str) -> int:
    for p in container["ports"]:
        if port in (p["name"], p["containerPort"]):
            return int(p["containerPort"])
    raise AssertionError(f"container {container['name']} has no port {port!r}")


def test_services_reach_the_container_port(built: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = built
    for service in of_kind(objects, "Service"):
        (deployment,) = [d for d in of_kind(objects, "Deployment") if selects(service["spec"]["selector"], pod_labels(d))]
        (container,) = containers(deployment)
        for port in service["spec"]["ports"]:
            assert container_port(container, port["targetPort"]) == int(literal_env(container)["HTTP_PORT"])


def served_paths() -> set[str]:
    from flask import Flask

    from app.blueprints import health

    flask_app = Flask("paths")
    flask_app.register_blueprint(health.bp)
    return {rule.rule for rule in flask_app.url_map.iter_rules()}


def test_probes_hit_what_gatehouse_serves(built: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = built
    paths = served_paths()
    assert {"/-/ready", "/-/healthz", "/-/metrics"} <= paths
    for deployment, container in deployments(objects):
        port = int(literal_env(container)["HTTP_PORT"])
        assert literal_env(container)["GATEHOUSE_BIND"] == "0.0.0.0", "the kubelet probes the pod's address"
        assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthz"
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in container:
                get = container[probe]["httpGet"]
                assert get["path"] in paths
                assert container_port(container, get["port"]) == port, f"{deployment['metadata']['name']} {probe}"


def test_metrics_of_both_groups_are_scraped(built: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = built
    scraped = set()
    for deployment, container in deployments(objects):
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/path"] == "/-/metrics"
        assert int(annotations["prometheus.io/port"]) == int(literal_env(container)["HTTP_PORT"])
        scraped.add(deployment["metadata"]["name"])
    assert scraped == {"gatehouse", "gatehouse-check"}


def test_config_and_secret_references_exist(built: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = built
    config_maps = {c["metadata"]["name"]: set(c["data"]) for c in of_kind(objects, "ConfigMap")}
    secrets_ = {secret["metadata"]["name"]: set(secret["stringData"])
                for secret in [secret_template(), *load_documents(CONFIG_FILE_TEMPLATE)]}
    for deployment, container in deployments(objects):
        where = deployment["metadata"]["name"]
        for name, entry in env_of(container).items():
            ref = entry.get("valueFrom", {})
            if "configMapKeyRef" in ref:
                key_ref = ref["configMapKeyRef"]
                assert key_ref["key"] in config_maps.get(key_ref["name"], set()), f"{where} {name}"
            elif "secretKeyRef" in ref:
                key_ref = ref["secretKeyRef"]
                assert key_ref["key"] in secrets_.get(key_ref["name"], set()), f"{where} {name}"
            else:
                assert "value" in entry, f"{where} {name}: only literal values or key references"
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            if "configMap" in volume:
                keys, items = config_maps.get(volume["configMap"]["name"], set()), volume["configMap"].get("items", [])
            elif "secret" in volume:
                keys, items = secrets_.get(volume["secret"]["secretName"], set()), volume["secret"].get("items", [])
            else:
                continue
            assert keys, f"{where} volume {volume['name']}"
            assert all(item["key"] in keys for item in items), f"{where} volume {volume['name']}"
        mounted = {m["name"] for m in container["volumeMounts"]}
        assert mounted == {v["name"] for v in deployment["spec"]["template"]["spec"]["volumes"]}


def test_every_setting_name_is_one_gatehouse_reads(built: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = built
    known = {name for names in ENV_NAMES.values() for name in names} | {"GATEHOUSE_CONFIG"}
    # gunicorn.conf.py's process settings are declared settings too
    assert {"GATEHOUSE_ROLE", "GATEHOUSE_BIND", "GUNICORN_WORKERS", "PROMETHEUS_MULTIPROC_DIR"} <= known
    for deployment, container in deployments(objects):
        unknown = set(env_of(container)) - known
        assert not unknown, f"{deployment['metadata']['name']}: environment names Gatehouse never reads: {unknown}"
        assert "envFrom" not in container, "every name is listed, so that this test sees it"
    for config_map in gatehouse_config_maps(objects):
        config_file = yaml.safe_load(config_map["data"]["gatehouse.yaml"])
        assert set(config_file) <= set(ENV_NAMES), set(config_file) - set(ENV_NAMES)


def gatehouse_config_maps(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ConfigMaps Gatehouse's Deployments read (by volume or key reference); others, such as
    the headers ingress-nginx sets on the check's subrequest, are not Gatehouse's config."""
    text = json.dumps([d for d, _ in deployments(objects)])
    used = [c for c in of_kind(objects, "ConfigMap") if f'"{c["metadata"]["name"]}"' in text]
    assert used, "the Deployments read a ConfigMap"
    return used


def test_the_check_never_takes_the_policy_choice_from_the_client(built: tuple[str, list[dict[str, Any]]]) -> None:
    """Behind the example Ingress, `isbackoffice` toward the check is set (empty) by ingress-nginx."""
    name, objects = built
    if name != "overlay":
        return
    for ingress in of_kind(objects, "Ingress"):
        annotations = ingress["metadata"].get("annotations", {})
        if "nginx.ingress.kubernetes.io/auth-url" in annotations:
            namespace, _, config = annotations["nginx.ingress.kubernetes.io/auth-proxy-set-headers"].partition("/")
            headers = named(objects, "ConfigMap", config)
            assert headers["metadata"].get("namespace", namespace) == namespace
            assert headers["data"]["isbackoffice"] == ""


def test_secrets_come_only_from_the_secret(built: tuple[str, list[dict[str, Any]]]) -> None:
    """A setting Gatehouse treats as secret (settings.SECRET_KEYS) is never a literal value nor a
    ConfigMap key: only a secretKeyRef. The signing key is a file from the Secret."""
    _, objects = built
    secret_names = {name for key in SECRET_KEYS for name in ENV_NAMES[key]} | {
        "PRIVATE_KEY_PASSWORD", "REDIS_USERNAME"}
    for deployment, container in deployments(objects):
        for name, entry in env_of(container).items():
            if name in secret_names:
                assert "secretKeyRef" in entry.get("valueFrom", {}), f"{deployment['metadata']['name']} {name}"
        assert {"MONGODB_URL", "CLIENT_ID_HASH_SALT", "PROVIDER_TOKEN_KEY"} <= set(env_of(container))
        # The main group signs: the private key. The /auth group verifies and never signs: the
        # public half only, and no volume of it carries the private key.
        key = "signing.pem.pub" if literal_env(container).get("GATEHOUSE_ROLE") == "check" else "signing.pem"
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        (key_volume,) = [v for v in volumes if v.get("secret", {}).get("items") == [{"key": key, "path": key}]]
        assert key_volume["secret"]["secretName"] == secret_template()["metadata"]["name"]
        if key == "signing.pem.pub":
            assert not any(item["key"] == "signing.pem" for v in volumes
                           for item in (v.get("secret") or v.get("configMap") or {}).get("items", []))
            assert "PRIVATE_RSA_KEY_FILE_PATH" not in env_of(container)
    for config_map in gatehouse_config_maps(objects):
        config_file = yaml.safe_load(config_map["data"]["gatehouse.yaml"])
        assert not set(config_file) & SECRET_KEYS
        assert not set(config_map["data"]) & secret_names
    admin = {d["metadata"]["name"] for d, c in deployments(objects) if "ADMIN_TOKEN" in env_of(c)}
    assert admin == {"gatehouse"}, "the admin token only where the admin API is served"


def test_the_drain_fits_in_the_grace_period(built: tuple[str, list[dict[str, Any]]]) -> None:
    """Both groups stop gracefully within DELAY_SHUTDOWN_SECONDS + GRACEFUL_STOP_SECONDS (gunicorn's
    graceful timeout, uWSGI's mercy). The kubelet must not kill a worker before that, counting any
    preStop sleep before the SIGTERM."""
    from app.settings import GRACEFUL_STOP_SECONDS

    _, objects = built
    assert re.search(r"^graceful_timeout = delay_shutdown \+ GRACEFUL_STOP_SECONDS$",
                     (ROOT / "app" / "serving/gunicorn_conf.py").read_text(), re.M)
    for deployment, container in deployments(objects):
        delay = int(literal_env(container).get("DELAY_SHUTDOWN_SECONDS", "10"))
        pre_stop = container.get("lifecycle", {}).get("preStop", {})
        assert set(pre_stop) <= {"sleep"}, "only a sleep preStop can be accounted for here"
        sleep = int(pre_stop.get("sleep", {}).get("seconds", 0))
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > sleep + delay + GRACEFUL_STOP_SECONDS, deployment["metadata"]["name"]


def test_resources_and_workers_are_pinned(built: tuple[str, list[dict[str, Any]]]) -> None:
    """os.cpu_count() in a container is the node's: the worker count must not follow it."""
    _, objects = built
    for deployment, container in deployments(objects):
        assert int(literal_env(container)["GUNICORN_WORKERS"]) >= 1
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]


def test_each_group_has_a_pdb_and_a_cpu_autoscaler(built: tuple[str, list[dict[str, Any]]]) -> None:
    _, objects = built
    names = {d["metadata"]["name"] for d in of_kind(objects, "Deployment")}
    scaled = {}
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in names
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        scaled[target["name"]] = hpa
    assert set(scaled) == names
    for deployment in of_kind(objects, "Deployment"):
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    protected = {d["metadata"]["name"] for d in of_kind(objects, "Deployment")
                 for pdb in of_kind(objects, "PodDisruptionBudget")
                 if selects(pdb["spec"]["selector"]["matchLabels"], pod_labels(d))}
    assert protected == names


# --- the overlay and its Ingress -------------------------------------------------------------

def test_overlay_applies_its_patches(overlay: list[dict[str, Any]]) -> None:
    config = named(overlay, "ConfigMap", "gatehouse-config")["data"]
    assert config["JWT_ISSUER"] == config["PUBLIC_URL"] == "https://app.example.com"
    assert config["REDIS_MODE"] == "sentinel" and "gatehouse.yaml" in config
    assert named(overlay, "HorizontalPodAutoscaler", "gatehouse-check")["spec"]["minReplicas"] == 3
    assert named(overlay, "HorizontalPodAutoscaler", "gatehouse")["spec"]["minReplicas"] == 2
    assert {c["image"] for _, c in deployments(overlay)} == {"registry.example.com/gatehouse:0.1.0"}
    assert {o["metadata"].get("namespace") for o in overlay if o["kind"] != "Namespace"} == {"gatehouse"}


def test_ingress_asks_the_check_service(overlay: list[dict[str, Any]]) -> None:
    ingresses = of_kind(overlay, "Ingress")
    guarded = [i for i in ingresses if "nginx.ingress.kubernetes.io/auth-url" in i["metadata"].get("annotations", {})]
    assert guarded
    check = named(overlay, "Service", "gatehouse-check")
    for ingress in guarded:
        annotations = ingress["metadata"]["annotations"]
        url = urlsplit(annotations["nginx.ingress.kubernetes.io/auth-url"])
        assert url.scheme == "http" and url.path == "/auth" and not url.query
        assert url.hostname == f"gatehouse-check.{check['metadata']['namespace']}.svc.cluster.local"
        assert (url.port or 80) in {p["port"] for p in check["spec"]["ports"]}
        # Gatehouse reads ingress-nginx's X-Original-URL: no auth-method (which would also send
        # the plain-nginx X-Original-URI, a second dialect for the same request).
        assert "nginx.ingress.kubernetes.io/auth-method" not in annotations
        signin = urlsplit(annotations["nginx.ingress.kubernetes.io/auth-signin"])
        assert signin.path == "/web-login"
        assert not signin.query, "the controller appends rd=<original URL>, which /web-login validates"
        listed = [h.strip().lower() for h in annotations["nginx.ingress.kubernetes.io/auth-response-headers"].split(",")]
        assert {h.lower() for h in IDENTITY_HEADERS} <= set(listed)
        assert len(listed) == len(set(listed))
        # Every identity, policy or dialect header the shipped nginx config sets or clears toward
        # the upstream is listed (the controller sets a listed name from the check's answer, so it
        # drops the client's), but those the controller sets itself.
        assert set(UPSTREAM_CLEARED) - set(listed) == set(), set(UPSTREAM_CLEARED) - set(listed)
        # The login pages are on the host the browser is sent to, which Gatehouse protects.
        hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
        assert signin.hostname in hosts
        config = named(overlay, "ConfigMap", "gatehouse-config")["data"]
        assert hosts <= set(config["FORWARD_AUTH_HOSTS"].split(","))
        assert yaml.safe_load(config["gatehouse.yaml"])["auth_dialects"] == "ingress-nginx"
        # What the check receives: the other dialects' headers and the policy choice, cleared.
        namespace, _, name = annotations["nginx.ingress.kubernetes.io/auth-proxy-set-headers"].partition("/")
        cleared = {k.lower(): v for k, v in named(overlay, "ConfigMap", name)["data"].items()}
        for header in ("isbackoffice", "x-forwarded-uri", "x-forwarded-method", "x-forwarded-host", "x-original-uri",
                       "original-request-uri", "original-request-method"):
            assert cleared[header] == "", header


def test_gatehouse_endpoints_go_to_the_main_group(overlay: list[dict[str, Any]]) -> None:
    services = {s["metadata"]["name"]: s for s in of_kind(overlay, "Service")}
    routed = {}
    for ingress in of_kind(overlay, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                service = path["backend"]["service"]
                routed[path["path"]] = service["name"]
                if service["name"] in services:
                    ports = services[service["name"]]["spec"]["ports"]
                    assert service["port"] in ({"name": p["name"]} for p in ports) or \
                        service["port"] in ({"number": p["port"]} for p in ports)
    for path in ("/oauth/", "/.well-known/", "/web-login", "/bff/", "/jwks", "/authorize"):
        assert routed[path] == "gatehouse", path
    assert "gatehouse-check" not in routed.values(), "/auth is for the ingress controller, not for clients"


# --- Gatehouse accepts this configuration ----------------------------------------------------

def test_gatehouse_accepts_the_configuration(built: tuple[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    """In the base and every overlay, each group's environment (Secret values generated here, the
    config file from the Secret's template where a component mounts it) and the ConfigMap's files
    pass Gatehouse's own start-up validation."""
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    _, objects = built
    config = named(objects, "ConfigMap", "gatehouse-config")["data"]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    values = {
        "signing.pem": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
        "signing.pem.pub": key.public_key().public_bytes(serialization.Encoding.PEM,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
        "client-id-hash-salt": secrets.token_urlsafe(32),
        "provider-token-key": Fernet.generate_key().decode(),
        "admin-token": secrets.token_urlsafe(32),
        "mongodb-url": "mongodb://gatehouse:pw@mongo-0:27017,mongo-1:27017,mongo-2:27017/gatehouse?replicaSet=rs0",
        "redis-username": "gatehouse",
        "redis-password": secrets.token_urlsafe(16),
    }
    assert set(values) == set(secret_template()["stringData"])
    (config_file_secret,) = load_documents(CONFIG_FILE_TEMPLATE)
    secret_data = {secret_template()["metadata"]["name"]: values, config_file_secret["metadata"]["name"]: {
        k: v.replace("CHANGE-ME", secrets.token_urlsafe(16)) for k, v in config_file_secret["stringData"].items()}}
    for deployment, container in deployments(objects):
        mounts = {}
        for volume in deployment["spec"]["template"]["spec"]["volumes"]:
            source = volume.get("configMap") or volume.get("secret")
            if source:
                data = config if "configMap" in volume else secret_data[volume["secret"]["secretName"]]
                (mount,) = [m["mountPath"] for m in container["volumeMounts"] if m["name"] == volume["name"]]
                directory = tmp_path / deployment["metadata"]["name"] / mount.strip("/")
                directory.mkdir(parents=True, exist_ok=True)
                for item in source["items"]:
                    (directory / item["path"]).write_text(data[item["key"]])
                mounts[mount] = directory
        env: dict[str, str] = {}
        for name, entry in env_of(container).items():
            if "value" in entry:
                # The kubelet expands $(NAME) of a variable defined above it.
                env[name] = re.sub(r"\$\(([A-Z_]+)\)", lambda m: env[m.group(1)], entry["value"])
            elif "configMapKeyRef" in entry["valueFrom"]:
                env[name] = config[entry["valueFrom"]["configMapKeyRef"]["key"]]
            else:
                env[name] = values[entry["valueFrom"]["secretKeyRef"]["key"]]

        def local(path: str) -> str:
            for mount, directory in mounts.items():
                if path.startswith(mount + "/"):
                    return str(directory / path[len(mount) + 1:])
            raise AssertionError(f"{path} is on no mounted volume")

        env["GATEHOUSE_CONFIG"] = local(env["GATEHOUSE_CONFIG"])
        config_file = yaml.safe_load(Path(env["GATEHOUSE_CONFIG"]).read_text())
        assert not {"private_key_path", "verification_keys"} & set(config_file), "the file is both groups'"
        if "PRIVATE_RSA_KEY_FILE_PATH" in env:
            env["PRIVATE_RSA_KEY_FILE_PATH"] = local(env["PRIVATE_RSA_KEY_FILE_PATH"])
        if "VERIFICATION_KEYS" in env:
            env["VERIFICATION_KEYS"] = ",".join(f"{kid}={local(path)}" for kid, _, path in (
                entry.partition("=") for entry in env["VERIFICATION_KEYS"].split(",")))
        if Path(config_file["routes_file"]).is_absolute():
            env["ROUTES_FILE"] = local(config_file["routes_file"])
        settings = load_settings(env)
        assert settings.delay_shutdown_seconds == int(env["DELAY_SHUTDOWN_SECONDS"])
        assert settings.http_port == int(env["HTTP_PORT"])
        assert settings.routes_file and Path(settings.routes_file).is_file()
        # Every file named is read and checked, keys included, as at start-up.
        files = read_named_files(settings)
        if settings.role == "check":
            assert not files.keys.can_sign
            assert [k["kid"] for k in files.keys.jwks()["keys"]] == [config["PRIVATE_RSA_KEY_ID"]]
        else:
            assert files.keys.active.kid == config["PRIVATE_RSA_KEY_ID"]


def test_readme_says_how_to_apply_and_what_is_not_done() -> None:
    readme = (ROOT / "docs" / "production.md").read_text()
    section = readme[readme.index("## Kubernetes"):]
    assert "kubectl apply -k deploy/kubernetes/overlays/example" in section
    assert "REVOCATION_SYNC_SECONDS" in section
    assert "Known limit" in section and "X-Original-URL" in section and "not tested end to end" in section
    # Every Secret key the README's command creates is one the manifests use, and all of them.
    created = set(re.findall(r"--from-(?:literal|file)=([a-z.-]+)=", section))
    assert created == set(secret_template()["stringData"])


def test_the_check_group_runs_under_the_shipped_server(built: tuple[str, list[dict[str, Any]]]) -> None:
    """As in every other production layout, the /auth Deployment is `gatehouse serve-check` (uWSGI);
    its probes and ingress-nginx's auth-url use the HTTP port, and the files uWSGI's launcher keeps
    beside the metrics directory (master FIFO, drain marker) land on the writable mount."""
    _, objects = built
    check = [(d, c) for d, c in deployments(objects) if d["metadata"]["name"] == "gatehouse-check"]
    assert len(check) == 1
    deployment, container = check[0]
    assert container["command"] == ["gatehouse", "serve-check"]
    env = literal_env(container)
    assert "CHECK_SERVER" not in env or env["CHECK_SERVER"] == "uwsgi"
    assert container["readinessProbe"]["httpGet"]["port"] in (int(env["HTTP_PORT"]), "http")
    metrics = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    assert any(Path(m["mountPath"]) == metrics.parent for m in container["volumeMounts"])


def test_the_check_pods_open_only_the_port_the_ingress_calls(built: tuple[str, list[dict[str, Any]]]) -> None:
    """ingress-nginx calls the check over HTTP: the check pods open no uwsgi-protocol socket (whose
    packets name their own REMOTE_ADDR) and declare the HTTP port only."""
    _, objects = built
    (container,) = [c for d, c in deployments(objects) if d["metadata"]["name"] == "gatehouse-check"]
    env = literal_env(container)
    assert env["GATEHOUSE_CHECK_SOCKET"] == "none"
    assert [p["containerPort"] for p in container["ports"]] == [int(env["HTTP_PORT"])]


INGRESS_CONTROLLER = ({"kubernetes.io/metadata.name": "ingress-nginx"},
                      {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"})


def test_only_the_ingress_controller_reaches_the_pods(built: tuple[str, list[dict[str, Any]]]) -> None:
    """Each group's pods are selected by one NetworkPolicy that admits, on their HTTP port only, the
    ingress controller's pods in the controller's namespace: both selectors in one `from` entry (two
    entries would admit every pod of that namespace, or any pod so labelled in any namespace), no
    address blocks, no rule without a `from`."""
    _, objects = built
    policies = [p for p in of_kind(objects, "NetworkPolicy") if p["metadata"]["name"] != "gatehouse-metrics"]
    for deployment, container in deployments(objects):
        selecting = [p for p in policies if selects(p["spec"]["podSelector"]["matchLabels"], pod_labels(deployment))]
        assert len(selecting) == 1, deployment["metadata"]["name"]
        spec = selecting[0]["spec"]
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        assert set(spec["podSelector"]) == {"matchLabels"}
        for rule in spec["ingress"]:
            assert rule.get("from"), "a rule without `from` admits every source"
            for peer in rule["from"]:
                assert set(peer) == {"namespaceSelector", "podSelector"}, peer
                assert (peer["namespaceSelector"]["matchLabels"], peer["podSelector"]["matchLabels"]) == INGRESS_CONTROLLER
                assert set(peer["namespaceSelector"]) == set(peer["podSelector"]) == {"matchLabels"}
            assert rule.get("ports"), "a rule without `ports` admits every port"
            assert {container_port(container, p["port"]) for p in rule["ports"]} == {int(literal_env(container)["HTTP_PORT"])}
            assert all(p.get("protocol", "TCP") == "TCP" for p in rule["ports"])
    assert {p["metadata"]["name"] for p in policies} == {"gatehouse", "gatehouse-check"}


def test_the_pods_connect_only_to_dns_the_stores_and_https(built: tuple[str, list[dict[str, Any]]]) -> None:
    """Egress of both groups: the cluster DNS, Redis (Sentinel and master) and MongoDB in their
    namespaces, and HTTPS outside the cluster's private ranges (the providers); every rule names
    both its destinations and its ports."""
    _, objects = built
    for policy in (p for p in of_kind(objects, "NetworkPolicy") if p["metadata"]["name"] != "gatehouse-metrics"):
        rules = policy["spec"]["egress"]
        allowed = set()
        for rule in rules:
            assert rule.get("to") and rule.get("ports"), rule
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    block = peer["ipBlock"]
                    assert block["cidr"] == "0.0.0.0/0" and set(block["except"]) >= {"10.0.0.0/8", "172.16.0.0/12",
                                                                                     "192.168.0.0/16"}
                    where = "outside"
                else:
                    where = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                allowed |= {(where, p["port"], p.get("protocol", "TCP")) for p in rule["ports"]}
        assert allowed == {("kube-system", 53, "UDP"), ("kube-system", 53, "TCP"), ("redis", 26379, "TCP"),
                           ("redis", 6379, "TCP"), ("mongodb", 27017, "TCP"), ("outside", 443, "TCP")}, allowed


# --- the optional components --------------------------------------------------------------

def with_component(name: str) -> list[tuple[str, list[dict[str, Any]]]]:
    found = [(overlay_name, build(directory)) for overlay_name, directory in OVERLAYS.items()
             if (COMPONENTS / name).resolve() in {
                 (directory / e).resolve()
                 for e in yaml.safe_load((directory / "kustomization.yaml").read_text()).get("components", [])}]
    assert found, f"no overlay uses the component {name}"
    return found


def test_the_service_monitor_scrapes_both_groups() -> None:
    """The Prometheus Operator's ServiceMonitor selects both Services and scrapes /-/metrics on the
    port each names; the NetworkPolicy that comes with it admits Prometheus's pods (and nothing
    else) to that port of both groups."""
    for name, objects in with_component("servicemonitor"):
        (monitor,) = of_kind(objects, "ServiceMonitor")
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert set(monitor["spec"]) == {"selector", "endpoints"}
        selector = monitor["spec"]["selector"]
        assert set(selector) == {"matchLabels"}
        services = [s for s in of_kind(objects, "Service") if selects(selector["matchLabels"], s["metadata"]["labels"])]
        assert {s["metadata"]["name"] for s in services} == {"gatehouse", "gatehouse-check"}, name
        assert monitor["metadata"]["namespace"] == services[0]["metadata"]["namespace"]
        for endpoint in monitor["spec"]["endpoints"]:
            assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
            assert endpoint["path"] in served_paths() and endpoint["path"] == "/-/metrics"
            for service in services:
                assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
        (policy,) = [p for p in of_kind(objects, "NetworkPolicy") if p["metadata"]["name"] == "gatehouse-metrics"]
        for deployment, container in deployments(objects):
            assert selects(policy["spec"]["podSelector"]["matchLabels"], pod_labels(deployment))
        (rule,) = policy["spec"]["ingress"]
        (peer,) = rule["from"]
        assert set(peer) == {"namespaceSelector", "podSelector"}, "Prometheus's pods in Prometheus's namespace"
        assert [p["port"] for p in rule["ports"]] == ["http"]


def test_the_config_file_with_provider_secrets_comes_from_a_secret() -> None:
    """With config-from-secret, both groups read the config file from the Secret
    gatehouse-config-file (which kustomize never creates), the route file still from the
    ConfigMap; the ConfigMap holds no provider secret."""
    (template,) = load_documents(CONFIG_FILE_TEMPLATE)
    config_file = yaml.safe_load(template["stringData"]["gatehouse.yaml"])
    assert config_file["apps"], "the example carries a provider and its clientSecret"
    for name, objects in with_component("config-from-secret"):
        assert not of_kind(objects, "Secret"), name
        for config_map in of_kind(objects, "ConfigMap"):
            assert "apps" not in yaml.safe_load(config_map["data"].get("gatehouse.yaml", "{}")), name
        for deployment, container in deployments(objects):
            path = Path(literal_env(container)["GATEHOUSE_CONFIG"])
            (mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == path.parent]
            (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
            assert volume["secret"]["secretName"] == template["metadata"]["name"]
            assert volume["secret"]["items"] == [{"key": path.name, "path": path.name}]
            routes = Path(config_file["routes_file"])
            assert routes.is_absolute()
            (routes_mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == routes.parent]
            (routes_volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"]
                                if v["name"] == routes_mount["name"]]
            assert {"key": routes.name, "path": routes.name} in routes_volume["configMap"]["items"]
