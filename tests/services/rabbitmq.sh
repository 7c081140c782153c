#!/usr/bin/env bash
# Makes sure RabbitMQ runs locally (the tests use 127.0.0.1:5672, guest).
set -euo pipefail
if rabbitmqctl -q status > /dev/null 2>&1; then
    exit 0
fi
echo "starting RabbitMQ"
rabbitmq-server -detached
rabbitmqctl -q --timeout 120 await_startup
