#!/bin/sh
# Lays out the single Garage node, imports the services' key, creates the
# bucket and lets the key use it: the steps of tests/services/garage.sh.
# Runs beside the server, sharing its network and (read-only) its metadata
# folder, where the CLI finds the node's id: in compose.yaml the
# garage-setup service, in the local-garage overlay a second container of
# the garage pod. Idempotent. `--wait FILE` (Kubernetes): afterwards,
# create FILE (the container's readiness) and wait until told to stop.
set -eu
g() { garage "$@"; }

tries=0
until g status > /dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 120 ]; then
        echo "garage-setup: the Garage server did not answer in 60 s" >&2
        g status
        exit 1
    fi
    sleep 0.5
done
if ! g layout show 2>/dev/null | grep -q "Current cluster layout version: [1-9]"; then
    node=$(g status 2>/dev/null | grep -Eo '^[0-9a-f]{16}' | head -n 1)
    [ -n "$node" ] || { echo "garage-setup: no node id in garage status" >&2; exit 1; }
    g layout assign -z dc1 -c 1G "$node" > /dev/null
    g layout apply --version 1 > /dev/null
fi
g key info "$S3_ACCESS_KEY" > /dev/null 2>&1 \
    || g key import --yes "$S3_ACCESS_KEY" "$S3_SECRET_KEY" -n nas-local > /dev/null
g bucket info "$S3_BUCKET" > /dev/null 2>&1 || g bucket create "$S3_BUCKET" > /dev/null
g bucket allow --read --write --owner "$S3_BUCKET" --key "$S3_ACCESS_KEY" > /dev/null
echo "bucket $S3_BUCKET and key $S3_ACCESS_KEY ready"
if [ "${1:-}" = "--wait" ]; then
    : > "${2:?--wait needs a file}"
    trap 'exit 0' TERM INT
    while :; do
        sleep 3600 &
        wait $!
    done
fi
