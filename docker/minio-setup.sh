#!/bin/sh
# Creates the bucket and the services' key in the local MinIO (compose.yaml,
# profile minio). Runs in the MinIO server image itself, whose `mc` client
# does the work: the minio/mc image is gone from Docker Hub.
set -eu
until mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" > /dev/null 2>&1; do
    sleep 1
done
mc mb --ignore-existing "local/$S3_BUCKET"
mc admin user add local "$S3_ACCESS_KEY" "$S3_SECRET_KEY" > /dev/null
# `readwrite` is a built-in policy; attaching it twice is an error to ignore.
mc admin policy attach local readwrite --user "$S3_ACCESS_KEY" > /dev/null 2>&1 || true
echo "bucket $S3_BUCKET and key $S3_ACCESS_KEY ready"
