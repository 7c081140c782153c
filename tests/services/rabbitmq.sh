#!/usr/bin/env bash
# Makes sure RabbitMQ runs locally and answers (the tests use 127.0.0.1:5672,
# guest).
#
# "Answers" means the AMQP handshake: a RabbitMQ 3.10 holding hundreds of
# quorum queues left by earlier test runs was seen accepting TCP connections
# and never reading them, while `rabbitmqctl status` hung. Such a broker is
# restarted; if it still does not answer, NAS_TEST_BROKER_RESET=1 (CI sets
# it) wipes its data directory (every queue and message: only for a broker
# that holds nothing but tests) and starts it again; otherwise the script
# says how to do that and fails.
#
# So that test runs do not pile queues up (each test declares its quorum
# queues under a fresh name ending in ten hex digits, and leaves them), a
# policy on the default vhost expires such queues after 10 minutes unused:
# no consumer, no declare, no get. Names without that suffix (`nas.jobs`, a
# user's own) are left alone.
#
# The broker is started with its standard streams on a log file, so it never
# holds the caller's pipe (CI reads `make`'s output until it closes).
set -euo pipefail

log=${TMPDIR:-/tmp}/nas-test-rabbitmq.log

answers() {
    # Sends the AMQP 0-9-1 header; a live broker answers with Connection.Start.
    timeout 10 python3 - <<'PY' > /dev/null 2>&1
import socket
s = socket.create_connection(("127.0.0.1", 5672), timeout=5)
s.sendall(b"AMQP\x00\x00\x09\x01")
assert s.recv(7)
PY
}

start() {
    echo "starting RabbitMQ"
    setsid rabbitmq-server -detached < /dev/null >> "$log" 2>&1
    # Until it answers (the node registers with epmd a moment after
    # -detached returns, so `rabbitmqctl await_startup` can fail at once).
    for _ in $(seq 60); do
        answers && return 0
        sleep 2
    done
    return 1
}

expire_test_queues() {
    timeout 60 rabbitmqctl -q set_policy --apply-to queues nas-test-expiry \
        '[-][0-9a-f]{10}([.]|$)' '{"expires":600000}' > /dev/null
}

stop_hard() {
    timeout 30 rabbitmqctl -q stop > /dev/null 2>&1 || pkill -9 -f 'beam.smp.*rabbit' || true
    sleep 2
}

if answers; then
    expire_test_queues
    exit 0
fi
if pgrep -f 'beam.smp.*rabbit' > /dev/null; then
    echo "RabbitMQ runs but does not answer the AMQP handshake; restarting it" >&2
    stop_hard
fi
if start; then
    expire_test_queues
    exit 0
fi
if [ "${NAS_TEST_BROKER_RESET:-}" != 1 ]; then
    echo "RabbitMQ still does not answer after a restart. If it holds only test queues, reset it:" >&2
    echo "  NAS_TEST_BROKER_RESET=1 $0   (wipes its data directory)" >&2
    exit 1
fi
echo "RabbitMQ still does not answer; wiping its data (NAS_TEST_BROKER_RESET=1)" >&2
stop_hard
base=${RABBITMQ_MNESIA_DIR:-/var/lib/rabbitmq/mnesia/rabbit@localhost}
rm -rf "$base" "$base"-*
start
expire_test_queues
