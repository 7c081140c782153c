#!/usr/bin/env python3
"""`make k8s-validate`: check every deployment artefact offline.

- Renders the base and each overlay (k8s/render.py) and validates every
  object: Kubernetes objects against the Kubernetes schemas
  (kubernetes-validate, strict: unknown fields are errors), KEDA objects
  against the KEDA CRD models (cloudcoil-models-keda).
- Checks the policies the deployment promises: non-root containers with
  resources, read-only root filesystems for our services, a GPU request
  and spot tolerations in the cloud overlay, a ScaledObject scaling to zero.
- yamllint on every YAML file of k8s/ and compose.yaml.
- The Compose file, with local.env interpolated, against the Compose
  specification's JSON schema.
- hadolint on the Dockerfile.

Exits non-zero with every problem listed.
"""
import os
import re
import subprocess
import sys

import jsonschema
import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "k8s"))
import render  # noqa: E402

K8S_VERSION = "1.33.0"
problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


def validate_keda(doc, where):
    from cloudcoil.models.keda import v1alpha1

    model = getattr(v1alpha1, doc["kind"], None)
    if model is None:
        problem(where, f"unknown KEDA kind {doc['kind']}")
        return
    try:
        model.model_validate(doc, strict=False)
    except Exception as error:  # pydantic's ValidationError
        problem(where, f"invalid {doc['kind']}: {error}")


def check_policies(overlay, documents):
    ours = {"nas-controller", "nas-worker"}
    kinds = [doc["kind"] for doc in documents]
    for required in ("Namespace", "ConfigMap", "Deployment", "ScaledObject", "PodDisruptionBudget", "NetworkPolicy"):
        if required not in kinds:
            problem(overlay, f"no {required}")
    for doc in documents:
        name = doc["metadata"]["name"]
        where = f"{overlay} {doc['kind']}/{name}"
        pod = (doc.get("spec") or {}).get("template", {}).get("spec")
        if not pod:
            continue
        if not pod.get("securityContext", {}).get("runAsNonRoot"):
            problem(where, "pods must run as non-root")
        for container in pod.get("containers", []):
            if "requests" not in container.get("resources", {}) or "limits" not in container.get("resources", {}):
                problem(where, f"container {container['name']} lacks resource requests or limits")
            security = container.get("securityContext", {})
            if security.get("allowPrivilegeEscalation", True):
                problem(where, f"container {container['name']} allows privilege escalation")
            if name in ours and not security.get("readOnlyRootFilesystem"):
                problem(where, "our containers run with a read-only root filesystem")
        if name == "nas-controller" and doc["spec"].get("strategy", {}).get("type") != "Recreate":
            problem(where, "the controller must use the Recreate strategy")
    scaled = [doc for doc in documents if doc["kind"] == "ScaledObject"]
    if scaled and scaled[0]["spec"].get("minReplicaCount") != 0:
        problem(overlay, "workers must scale down to zero")
    if overlay.endswith("gpu-cloud"):
        worker = next(doc for doc in documents if doc["metadata"]["name"] == "nas-worker" and doc["kind"] == "Deployment")
        pod = worker["spec"]["template"]["spec"]
        limits = pod["containers"][0]["resources"]["limits"]
        if str(limits.get("nvidia.com/gpu")) != "1":
            problem(overlay, "cloud workers request one GPU")
        keys = {t.get("key") for t in pod.get("tolerations", [])}
        if not {"cloud.google.com/gke-spot", "karpenter.sh/capacity-type"} <= keys:
            problem(overlay, "cloud workers tolerate GKE spot and Karpenter spot nodes")


def validate_manifests():
    for overlay in ("k8s/base", "k8s/overlays/local", "k8s/overlays/gpu-cloud"):
        try:
            documents = render.render(os.path.join(ROOT, overlay))
        except (render.RenderError, OSError, KeyError, ValueError) as error:
            problem(overlay, f"cannot render: {error}")
            continue
        for doc in documents:
            where = f"{overlay} {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            if doc.get("apiVersion", "").startswith("keda.sh/"):
                validate_keda(doc, where)
                continue
            try:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                problem(where, f"{error.message} at {'/'.join(str(p) for p in error.path)}")
            except Exception as error:  # unknown kinds and the like
                problem(where, str(error))
        check_policies(overlay, documents)
        print(f"{overlay}: {len(documents)} objects rendered and checked")


def interpolate(text, variables):
    def replace(match):
        name, default = match.group(1), match.group(3)
        return variables.get(name, os.environ.get(name, default or ""))

    text = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-([^}]*))?\}", replace, text)
    return text.replace("$$", "$")


def validate_compose(schema_path):
    variables = {}
    with open(os.path.join(ROOT, "local.env")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                variables[key] = value
    with open(os.path.join(ROOT, "compose.yaml")) as f:
        compose = yaml.safe_load(interpolate(f.read(), variables))
    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    validator = jsonschema.Draft7Validator(schema)
    for error in validator.iter_errors(compose):
        problem("compose.yaml", f"{error.message} at {'/'.join(str(p) for p in error.path)}")
    services = set(compose.get("services", {}))
    for required in ("rabbitmq", "minio", "minio-setup", "data", "controller", "worker"):
        if required not in services:
            problem("compose.yaml", f"no {required} service")
    print(f"compose.yaml: {len(services)} services checked against the Compose schema")


def run(command, where):
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        problem(where, (result.stdout + result.stderr).strip())
    else:
        print(f"{where}: ok")


def main():
    tools = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".venv-tools", "bin")
    schema = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, ".tools", "compose-spec.json")
    validate_manifests()
    validate_compose(schema)
    yaml_files = ["compose.yaml"] + [
        os.path.relpath(os.path.join(d, f), ROOT)
        for d, _, files in os.walk(os.path.join(ROOT, "k8s"))
        for f in files
        if f.endswith(".yaml")
    ]
    run([os.path.join(tools, "yamllint"), "-c", ".yamllint.yaml", "--strict", *sorted(yaml_files)], "yamllint")
    run([os.path.join(tools, "hadolint"), "Dockerfile"], "hadolint Dockerfile")
    if problems:
        print("\n".join(["", "problems:"] + problems), file=sys.stderr)
        sys.exit(1)
    print("all deployment artefacts are valid")


if __name__ == "__main__":
    main()
