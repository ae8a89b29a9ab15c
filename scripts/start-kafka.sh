#!/usr/bin/env bash
# Start a single-node Kafka (KRaft combined broker+controller) and create the project's
# topics. Idempotent: a running broker is kept; storage is formatted only once.
# Ports, state dir and name come from the environment (see scripts/kafka/env.sh).
source "$(dirname "$0")/common.sh"
source "$REPO_DIR/scripts/kafka/env.sh"
"$REPO_DIR/scripts/ensure-kafka.sh"
mkdir -p "$KAFKA_DIR/data"
props="$KAFKA_DIR/server.properties"
max_record_bytes=$((17 * 1024 * 1024))   # 16 MiB payload (topics.MAX_RECORD_BYTES) + batch overhead
cat >"$props" <<PROPS
# Written by scripts/start-kafka.sh on every start: edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.partitions=4
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
message.max.bytes=$max_record_bytes
replica.fetch.max.bytes=$max_record_bytes
log.retention.hours=168
log.segment.bytes=134217728
PROPS
cp=("-cp" "$KAFKA_LIB/*")
java_opts=(-Xms128m "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$REPO_DIR/scripts/kafka/log4j2.properties")
if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
  cluster_id=$(java "${cp[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
  log "formatting kafka storage in $KAFKA_DIR/data (cluster $cluster_id)"
  java "${java_opts[@]}" "${cp[@]}" kafka.tools.StorageTool format --ignore-formatted \
    -t "$cluster_id" -c "$props" >>"$LOG_DIR/$KAFKA_NAME.log" 2>&1 || die "kafka storage format failed (see $LOG_DIR/$KAFKA_NAME.log)"
fi
start_service "$KAFKA_NAME" java "${java_opts[@]}" "${cp[@]}" kafka.Kafka "$props"
port_open() { (exec 3<>"/dev/tcp/$KAFKA_HOST/$KAFKA_PORT") 2>/dev/null; }
wait_for "kafka on $KAFKA_BOOTSTRAP" 90 port_open
"$VENV/bin/python" "$REPO_DIR/scripts/create_topics.py" --bootstrap "$KAFKA_BOOTSTRAP" --wait-s 90 \
  || die "kafka topics not created (broker log: $LOG_DIR/$KAFKA_NAME.log)"
