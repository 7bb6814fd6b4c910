#!/bin/sh
# The worker of the Kubernetes docs' "Coarse Parallel Processing Using a Work Queue", for
# Drover's process runtime: amqp-consume (Debian package amqp-tools) takes exactly one message
# from $QUEUE on $BROKER_URL, acks it, and pipes it to a command that prints
# "Processing <item>" and works for $WORK_SECONDS (default 10, as in the docs).
exec amqp-consume --url="$BROKER_URL" -q "$QUEUE" -c 1 -- \
  sh -c 'read -r item; echo "Processing $item"; sleep "${WORK_SECONDS:-10}"'
