#!/usr/bin/env bash
# Stop the broker started by start-kafka.sh (same environment variables select which one).
source "$(dirname "$0")/common.sh"
source "$REPO_DIR/scripts/kafka/env.sh"
stop_service "$KAFKA_NAME" 60
