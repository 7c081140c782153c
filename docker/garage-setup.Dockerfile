# syntax=docker/dockerfile:1.7
# garage-setup: the Garage CLI with a shell (the dxflrs/garage image holds
# the static binary alone, FROM scratch). Built by `make run-local
# S3=garage` (compose.yaml) and, for the local-garage Kubernetes overlay, by
#   docker build -f docker/garage-setup.Dockerfile -t nas-garage-setup:local .
ARG GARAGE_IMAGE=dxflrs/garage:v2.5.0

FROM ${GARAGE_IMAGE} AS garage

FROM debian:bookworm-slim
COPY --from=garage /garage /usr/local/bin/garage
COPY docker/garage-setup.sh /usr/local/bin/garage-setup
USER 10001:10001
ENTRYPOINT ["/bin/sh", "/usr/local/bin/garage-setup"]
