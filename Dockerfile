# syntax=docker/dockerfile:1.7
# Images of nas-controller and nas-worker (`make images`):
#
#   docker build --target controller -t nas-controller .
#   docker build --target worker -t nas-worker .
#
# Both binaries link libtorch 2.11.0 from the PyPI torch wheel, the version
# tch 0.24 expects. The worker uses the CUDA wheel (CUDA 13 runtime
# libraries included) on NVIDIA's CUDA runtime image; the controller, which
# only runs the small policy network, uses the CPU wheel on Debian slim.
# The final stages hold the binary, the libtorch it was linked against (at
# the same path, so the embedded rpath finds it), and a non-root user.

ARG RUST_VERSION=1.95
ARG TORCH_VERSION=2.11.0
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-runtime-ubuntu24.04

FROM rust:${RUST_VERSION}-bookworm AS builder
ARG TORCH_VERSION
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3-venv=3.11.* \
    && rm -rf /var/lib/apt/lists/*
ENV VIRTUAL_ENV=/opt/torch \
    PATH=/opt/torch/bin:$PATH \
    LIBTORCH_USE_PYTORCH=1
WORKDIR /src

FROM builder AS build-controller
RUN python3 -m venv /opt/torch \
    && pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked -p nas-controller \
    && strip target/release/nas-controller

FROM builder AS build-worker
RUN python3 -m venv /opt/torch \
    && pip install --no-cache-dir "torch==${TORCH_VERSION}"
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked -p nas-worker \
    && strip target/release/nas-worker

FROM debian:bookworm-slim AS controller
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=2023* libgomp1=12.2.* \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin nas
COPY --from=build-controller /opt/torch/lib/python3.11/site-packages/torch/lib /opt/torch/lib/python3.11/site-packages/torch/lib
COPY --from=build-controller /src/target/release/nas-controller /usr/local/bin/nas-controller
USER 10001:10001
ENV NAS_LOG_FORMAT=json \
    NAS_METRICS_ADDR=0.0.0.0:9100
EXPOSE 9100
ENTRYPOINT ["nas-controller"]
CMD ["search"]

FROM ${CUDA_IMAGE} AS worker
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=2024* libgomp1=14.2.* \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin nas \
    && mkdir -p /cache \
    && chown 10001:10001 /cache
COPY --from=build-worker /opt/torch/lib/python3.11/site-packages/torch/lib /opt/torch/lib/python3.11/site-packages/torch/lib
COPY --from=build-worker /opt/torch/lib/python3.11/site-packages/nvidia /opt/torch/lib/python3.11/site-packages/nvidia
COPY --from=build-worker /src/target/release/nas-worker /usr/local/bin/nas-worker
USER 10001:10001
ENV NAS_LOG_FORMAT=json \
    NAS_METRICS_ADDR=0.0.0.0:9101 \
    NAS_CACHE_DIR=/cache
EXPOSE 9101
ENTRYPOINT ["nas-worker"]
CMD ["serve"]
