"""Image references for `make k8s-validate` (imported by validate.py).

The rules: no reference may point at a repository known to be gone
(Docker Hub's `minio/minio` and `minio/mc`), and every one must be pinned
(a digest, or a tag naming a major.minor version, a release date or a
distribution codename); our own images need a tag other than `latest`.
IMAGE_RULE_CASES is checked on every run, so the rules are tested too.
"""
import os
import re

import yaml

import render

SKIP_DIRS = {".git", "target", "node_modules", "runs", "book", ".venv", ".venv-tools", ".tools"}
OURS = {"nas-controller", "nas-worker", "nas-garage-setup"}
GONE = {
    "docker.io/minio/minio": "deleted from Docker Hub on 2026-09-12; MinIO's images are on quay.io/minio/minio",
    "docker.io/minio/mc": "deleted from Docker Hub on 2026-09-12; `mc` ships inside quay.io/minio/minio",
}
CODENAMES = {"bullseye", "bookworm", "trixie", "focal", "jammy", "noble"}

problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


# Each reference and whether the rules must accept it: run on every
# validation, so the image check is itself checked.
IMAGE_RULE_CASES = {
    "minio/minio:RELEASE.2025-04-22T22-12-26Z": False,
    "docker.io/minio/mc:RELEASE.2025-04-16T18-13-26Z": False,
    "index.docker.io/minio/minio@sha256:" + "0" * 64: False,
    "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z": True,
    "rabbitmq": False,
    "rabbitmq:latest": False,
    "rabbitmq:management": False,
    "rabbitmq:4-management": False,
    "rabbitmq:4.3.5-management": True,
    "dxflrs/garage:v2": False,
    "dxflrs/garage:v2.5.0": True,
    "debian:bookworm-slim": True,
    "nvidia/cuda:13.0.1-runtime-ubuntu24.04": True,
    "alpine@sha256:" + "0" * 64: True,
    "localhost:5000/tools": False,
    "localhost:5000/tools:1.2": True,
    "nas-worker:local": True,
    "nas-worker": False,
    "ghcr.io/nas-rl/nas-controller:latest": False,
    "registry.example.com/nas/nas-controller:0.1.0": True,
}



def repository(name):
    """The full repository of an image name, Docker Hub's made explicit."""
    first, _, rest = name.partition("/")
    if not rest:
        return f"docker.io/library/{name}"
    if "." in first or ":" in first or first == "localhost":
        if first in ("index.docker.io", "registry-1.docker.io"):
            first = "docker.io"
        return f"{first}/{rest}"
    return f"docker.io/{name}"


def names_a_release(tag):
    if re.search(r"\d+\.\d+", tag) or re.search(r"\d{4}-\d{2}-\d{2}", tag):
        return True
    return any(word in CODENAMES for word in re.split(r"[-_.]", tag))


def image_faults(reference):
    """What is wrong with one image reference under the rules above."""
    name, tag, digest = render.split_image(reference)
    if not name:
        return ["an empty image reference"]
    faults = []
    full = repository(name)
    if full in GONE:
        faults.append(f"{full} is gone ({GONE[full]})")
    if name.rsplit("/", 1)[-1] in OURS:
        if not (tag or digest) or tag == "latest":
            faults.append("our own image needs a tag other than latest (local, IMAGE_TAG or a release)")
        return faults
    if digest:
        return faults
    if not tag:
        faults.append("not pinned: no tag (Docker's `latest`)")
    elif not names_a_release(tag):
        faults.append(f"not pinned: tag {tag!r} names no release (a major.minor version, a date or a codename)")
    return faults


def check_image_rules():
    for reference, accepted in IMAGE_RULE_CASES.items():
        if (not image_faults(reference)) != accepted:
            verdict = "rejects" if accepted else "accepts"
            problem("image rules", f"the check {verdict} {reference!r}")


def interpolate(text, variables):
    def replace(match):
        name, default = match.group(1), match.group(3)
        return variables.get(name, os.environ.get(name, default or ""))

    text = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-([^}]*))?\}", replace, text)
    return text.replace("$$", "$")


def env_file(root):
    variables = {}
    with open(os.path.join(root, "local.env")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                variables[key] = value
    return variables


def compose_images(root):
    """(where, reference) of every service image in compose.yaml, whatever
    its profile, with local.env interpolated."""
    with open(os.path.join(root, "compose.yaml")) as f:
        compose = yaml.safe_load(interpolate(f.read(), env_file(root)))
    for service, spec in (compose.get("services") or {}).items():
        if "image" in spec:
            yield f"compose.yaml service {service}", spec["image"]
        elif "build" not in spec:
            problem(f"compose.yaml service {service}", "neither an image nor a build")


def dockerfiles(root):
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIP_DIRS)
        for file in sorted(files):
            if file == "Dockerfile" or file.endswith(".Dockerfile") or file.startswith("Dockerfile."):
                yield os.path.relpath(os.path.join(directory, file), root)


def dockerfile_images(root, path):
    """(where, reference) of every FROM of a Dockerfile that names an image
    (not an earlier stage, not scratch), its ARG defaults substituted."""
    with open(os.path.join(root, path)) as f:
        text = re.sub(r"\\\n", " ", f.read())
    arguments, stages, global_scope = {}, set(), True
    for number, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        instruction = words[0].upper()
        if instruction == "ARG" and len(words) > 1 and global_scope:
            key, _, value = words[1].partition("=")
            arguments[key] = value.strip("\"'")
        if instruction != "FROM":
            continue
        global_scope = False
        words = [w for w in words[1:] if not w.startswith("--")]
        if not words:
            continue
        image = re.sub(
            r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?",
            lambda m: arguments.get(m.group(1), m.group(0)),
            words[0],
        )
        earlier = set(stages)
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2].lower())
        if image == "scratch" or image.lower() in earlier:
            continue
        if "$" in image:
            problem(f"{path}:{number}", f"FROM {words[0]}: an argument without a default")
            continue
        yield f"{path}:{number}", image
