#!/bin/sh
# The worker of the Kubernetes docs' "Fine Parallel Processing Using a Work Queue", with
# redis-cli instead of the docs' Python library: move one item at a time from $QUEUE into this
# pod's own processing list, work on it, remove it, until the queue is empty.
# Like the docs' library it has no leases: an item held by a pod that crashes stays in that
# pod's processing list. Drover's own `spec.queue` has none of these limits.
processing="$QUEUE:processing:$POD_NAME"
while :; do
  item=$(redis-cli -u "$BROKER_URL" --raw LMOVE "$QUEUE" "$processing" LEFT RIGHT)
  if [ -z "$item" ]; then
    echo "Queue empty, exiting"
    exit 0
  fi
  echo "Processing $item"
  sleep "${WORK_SECONDS:-10}"
  redis-cli -u "$BROKER_URL" LREM "$processing" 1 "$item" >/dev/null
done
