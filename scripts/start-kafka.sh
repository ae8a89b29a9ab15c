#!/usr/bin/env bash
# Start a single-node Kafka (KRaft combined broker+controller) and create the project's
# topics. Idempotent: a running broker is kept; storage is formatted only once.
# Ports, state dir and name come from the environment (see scripts/kafka/env.sh).
source "$(dirname "$0")/common.sh"
source "$REPO_DIR/scripts/kafka/env.sh"
"$REPO_DIR/scripts/ensure-kafka.sh"
source "$REPO_DIR/scripts/kafka/broker.sh"
mkdir -p "$KAFKA_DIR/data"
kafka_credentials
props="$KAFKA_DIR/server.properties"
(umask 077; kafka_properties 1 "$KAFKA_HOST" "1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT" "$KAFKA_DIR/data" 1 1 >"$props")
chmod 600 "$props"
kafka_check_storage "$props"
if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
  kafka_format "$props" "$(kafka_cluster_id)" "$LOG_DIR/$KAFKA_NAME.log"
fi
mapfile -d '' cmd < <(kafka_command "$props")
start_service "$KAFKA_NAME" "${cmd[@]}"
port_open() { (exec 3<>"/dev/tcp/$KAFKA_HOST/$KAFKA_PORT") 2>/dev/null; }
wait_for "kafka on $KAFKA_BOOTSTRAP" 180 port_open   # a loaded 2-core machine: JVM start-up took >90 s
THROWBOX_KAFKA_CREDENTIALS_FILE="$KAFKA_CREDENTIALS_DIR/admin.properties" \
  "$VENV/bin/python" "$REPO_DIR/scripts/create_topics.py" --bootstrap "$KAFKA_BOOTSTRAP" --wait-s 90 \
  || die "kafka topics not created (broker log: $LOG_DIR/$KAFKA_NAME.log)"
