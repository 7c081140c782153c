#!/usr/bin/env bash
# A single-node Garage (S3-compatible) server for the tests.
#
#   tests/services/garage.sh install # install Garage 2.5.0 when it is missing
#   tests/services/garage.sh start   # start it (idempotent), print the env file
#   tests/services/garage.sh stop
#   tests/services/garage.sh env     # print the env file's path
#   tests/services/garage.sh foreign-bucket NAME  # a bucket the test key may not use
#
# State lives in $NAS_GARAGE_DIR (default /tmp/nas-garage). The env file
# holds NAS_S3_ENDPOINT, NAS_S3_REGION, NAS_S3_BUCKET, NAS_S3_PATH_STYLE and
# the test key in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; `source` it.
# Garage itself: `install` runs `cargo install garage --version 2.5.0
# --locked` into ~/.cargo/bin once (about 20 minutes on a 2-core machine);
# `make services` (and so `make test`) calls it, on a laptop and in CI alike.
set -euo pipefail

dir=${NAS_GARAGE_DIR:-/tmp/nas-garage}
version=2.5.0
garage=${GARAGE_BIN:-$(command -v garage || echo "$HOME/.cargo/bin/garage")}
config="$dir/garage.toml"
env_file="$dir/env"
# A fixed test key: Garage's import format (GK + 24 hex, 64 hex).
key_id=GK0123456789abcdef01234567
key_secret=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
bucket=nas-test
s3_port=${NAS_GARAGE_S3_PORT:-3900}
rpc_port=${NAS_GARAGE_RPC_PORT:-3901}
admin_port=${NAS_GARAGE_ADMIN_PORT:-3903}

g() { "$garage" -c "$config" "$@"; }

running() { [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; }

installed() { [ -x "$garage" ] && "$garage" --version 2>/dev/null | grep -q "v\?$version"; }

install() {
    if installed; then return; fi
    echo "installing Garage $version (the S3 server of the tests; once, about 20 minutes on 2 cores)" >&2
    cargo install garage --version "$version" --locked
    garage="$HOME/.cargo/bin/garage"
}

start() {
    installed || { echo "garage $version not found; run: $0 install" >&2; exit 1; }
    mkdir -p "$dir/meta" "$dir/data"
    if [ ! -f "$config" ]; then
        cat > "$config" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin_port"
TOML
    fi
    if ! running; then
        nohup "$garage" -c "$config" server > "$dir/server.log" 2>&1 &
        echo $! > "$dir/pid"
    fi
    for _ in $(seq 1 100); do
        g status > /dev/null 2>&1 && break
        sleep 0.2
    done
    if ! g layout show 2>/dev/null | grep -q "Current cluster layout version: [1-9]"; then
        node=$(g status 2>/dev/null | awk '/^[0-9a-f]{16}/ {print $1; exit}')
        [ -n "$node" ] || { echo "garage did not start; see $dir/server.log" >&2; exit 1; }
        g layout assign -z dc1 -c 1G "$node" > /dev/null
        g layout apply --version 1 > /dev/null
    fi
    g key info "$key_id" > /dev/null 2>&1 || g key import --yes "$key_id" "$key_secret" -n nas-test > /dev/null
    g bucket info "$bucket" > /dev/null 2>&1 || g bucket create "$bucket" > /dev/null
    g bucket allow --read --write --owner "$bucket" --key "$key_id" > /dev/null
    cat > "$env_file" <<ENV
export NAS_S3_ENDPOINT=http://127.0.0.1:$s3_port
export NAS_S3_REGION=garage
export NAS_S3_BUCKET=$bucket
export NAS_S3_PATH_STYLE=true
export AWS_ACCESS_KEY_ID=$key_id
export AWS_SECRET_ACCESS_KEY=$key_secret
ENV
    echo "$env_file"
}

foreign_bucket() {
    g bucket info "$1" > /dev/null 2>&1 || g bucket create "$1" > /dev/null
}

stop() {
    if running; then kill "$(cat "$dir/pid")"; fi
    rm -f "$dir/pid"
}

case "${1:-start}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    env) echo "$env_file" ;;
    foreign-bucket) foreign_bucket "${2:?a bucket name}" ;;
    *) echo "usage: $0 install|start|stop|env|foreign-bucket NAME" >&2; exit 2 ;;
esac
