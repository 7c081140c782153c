#!/usr/bin/env python3
"""Render a kustomization offline, for validation where no kustomize binary
is installed (`make k8s-validate`). Users deploy with `kubectl apply -k`.

Supports the subset of kustomize these manifests use: `resources` (files
and directories with a kustomization.yaml), `namespace`, `labels` (with
`includeSelectors` and `includeTemplates`), `images` (`newName`, `newTag`)
and `patches` with a `target` (kind, name) and an inline JSON 6902 patch
(`add`, `remove`, `replace`). Anything else is an error, so a manifest that
starts using another feature fails validation instead of being skipped; so
is a patch or an `images` entry that matches nothing (kustomize would skip
an `images` entry silently: an overlay naming `nas-controller` after the
base renamed it to `ghcr.io/nas-rl/nas-controller` changed nothing).

    python3 k8s/render.py k8s/overlays/local > rendered.yaml
"""
import copy
import os
import sys

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


class RenderError(Exception):
    pass


def load_documents(path):
    with open(path) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc]


def render(directory):
    path = os.path.join(directory, "kustomization.yaml")
    if not os.path.isfile(path):
        raise RenderError(f"{directory}: no kustomization.yaml")
    with open(path) as f:
        kustomization = yaml.safe_load(f) or {}
    unknown = set(kustomization) - SUPPORTED
    if unknown:
        raise RenderError(f"{path}: unsupported fields {sorted(unknown)}")
    documents = []
    for resource in kustomization.get("resources", []):
        target = os.path.normpath(os.path.join(directory, resource))
        if os.path.isdir(target):
            documents.extend(render(target))
        else:
            documents.extend(load_documents(target))
    for patch in kustomization.get("patches", []):
        apply_patch(documents, patch, path)
    for label in kustomization.get("labels", []):
        apply_labels(documents, label)
    for image in kustomization.get("images", []):
        apply_image(documents, image, path)
    namespace = kustomization.get("namespace")
    if namespace:
        for doc in documents:
            if doc.get("kind") == "Namespace":
                continue
            if doc.get("kind") not in CLUSTER_SCOPED:
                doc.setdefault("metadata", {})["namespace"] = namespace
    return documents


def apply_labels(documents, label):
    pairs = label.get("pairs", {})
    for doc in documents:
        doc.setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
        spec = doc.get("spec") or {}
        if label.get("includeTemplates") and isinstance(spec.get("template"), dict):
            spec["template"].setdefault("metadata", {}).setdefault("labels", {}).update(pairs)
        if label.get("includeSelectors"):
            raise RenderError("labels.includeSelectors: true is not supported")


def containers_of(doc):
    spec = (doc.get("spec") or {}).get("template", {}).get("spec", {})
    return spec.get("containers", []) + spec.get("initContainers", [])


def split_image(reference):
    """`name[:tag][@digest]` into its three parts (a registry port is not a tag)."""
    name, _, digest = reference.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest


def apply_image(documents, image, origin):
    """Kustomize's `images`: an entry matches containers whose image name
    (without tag or digest) is exactly `name` as the resources stand at this
    level, after the images transformers of the levels below. An entry that
    matches nothing is an error here (kustomize ignores it silently)."""
    matched = False
    for doc in documents:
        for container in containers_of(doc):
            name, tag, digest = split_image(container.get("image", ""))
            if name != image["name"]:
                continue
            matched = True
            new = image.get("newName", name)
            new_tag = image.get("newTag", tag)
            reference = f"{new}:{new_tag}" if new_tag else new
            container["image"] = f"{reference}@{digest}" if digest else reference
    if not matched:
        raise RenderError(f"{origin}: images entry {image['name']!r} matches no container image")


def apply_patch(documents, patch, origin):
    target = patch.get("target", {})
    operations = yaml.safe_load(patch["patch"]) if "patch" in patch else None
    if not isinstance(operations, list):
        raise RenderError(f"{origin}: only inline JSON 6902 patches are supported")
    matched = [
        doc
        for doc in documents
        if doc.get("kind") == target.get("kind") and doc.get("metadata", {}).get("name") == target.get("name")
    ]
    if not matched:
        raise RenderError(f"{origin}: patch target {target} matches nothing")
    for doc in matched:
        for operation in operations:
            json6902(doc, operation, origin)


def json6902(doc, operation, origin):
    parts = [p.replace("~1", "/").replace("~0", "~") for p in operation["path"].split("/")[1:]]
    parent = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent.get(part)
        if parent is None:
            raise RenderError(f"{origin}: path {operation['path']} does not exist")
    last = parts[-1]
    op = operation["op"]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if op == "add":
            parent.insert(index, copy.deepcopy(operation["value"]))
        elif op == "replace":
            parent[index] = copy.deepcopy(operation["value"])
        elif op == "remove":
            del parent[index]
        else:
            raise RenderError(f"{origin}: unsupported op {op}")
        return
    if op in ("replace", "remove") and last not in parent:
        raise RenderError(f"{origin}: path {operation['path']} does not exist")
    if op in ("add", "replace"):
        parent[last] = copy.deepcopy(operation["value"])
    elif op == "remove":
        del parent[last]
    else:
        raise RenderError(f"{origin}: unsupported op {op}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: render.py KUSTOMIZATION_DIR")
    try:
        documents = render(sys.argv[1])
    except RenderError as error:
        sys.exit(f"error: {error}")
    yaml.safe_dump_all(documents, sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
