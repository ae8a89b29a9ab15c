# One KRaft broker's configuration and start, for the stack (scripts/start-kafka.sh: one
# combined broker+controller) and the cluster (scripts/cluster: three, replicated): sourced
# after common.sh and kafka/env.sh, never run.

# kafka_properties NODE_ID HOST VOTERS DATA_DIR REPLICAS MIN_ISR: server.properties on stdout.
# VOTERS is controller.quorum.voters (id@host:port,...); REPLICAS the replication factor of
# Kafka's own topics and the default of new ones.
kafka_properties() {
  local node_id=$1 host=$2 voters=$3 data_dir=$4 replicas=$5 min_isr=$6
  local max_record_bytes=$((17 * 1024 * 1024))   # 16 MiB payload (topics.MAX_RECORD_BYTES) + batch overhead
  cat <<PROPS
# Written by scripts/kafka/broker.sh on every start: edit the script, not this file.
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=PLAINTEXT://$host:$KAFKA_PORT,CONTROLLER://$host:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$host:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data_dir
num.partitions=4
default.replication.factor=$replicas
min.insync.replicas=$min_isr
unclean.leader.election.enable=false
offsets.topic.replication.factor=$replicas
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=$replicas
transaction.state.log.min.isr=$min_isr
share.coordinator.state.topic.replication.factor=$replicas
share.coordinator.state.topic.min.isr=$min_isr
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
message.max.bytes=$max_record_bytes
replica.fetch.max.bytes=$max_record_bytes
log.retention.hours=168
log.segment.bytes=134217728
PROPS
}

KAFKA_CP=("-cp" "$KAFKA_LIB/*")
KAFKA_JAVA_OPTS=(-Xms128m "-Xmx$KAFKA_HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$REPO_DIR/scripts/kafka/log4j2.properties")

kafka_cluster_id() { java "${KAFKA_CP[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1; }

# kafka_format PROPS CLUSTER_ID LOG: format the storage of PROPS's log.dirs once.
kafka_format() {
  local props=$1 cluster_id=$2 logfile=$3
  log "formatting kafka storage of $props (cluster $cluster_id)"
  java "${KAFKA_JAVA_OPTS[@]}" "${KAFKA_CP[@]}" kafka.tools.StorageTool format --ignore-formatted \
    -t "$cluster_id" -c "$props" >>"$logfile" 2>&1 || die "kafka storage format failed (see $logfile)"
}

# The broker's command line (after any namespace prefix): java ... kafka.Kafka PROPS.
kafka_command() { printf '%s\0' java "${KAFKA_JAVA_OPTS[@]}" "${KAFKA_CP[@]}" kafka.Kafka "$1"; }
