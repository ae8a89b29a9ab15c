# One KRaft broker's configuration and start, for the stack (scripts/start-kafka.sh: one
# combined broker+controller) and the cluster (scripts/cluster: three, replicated): sourced
# after common.sh and kafka/env.sh, never run.
#
# Secure by default: clients and brokers authenticate with SASL/SCRAM-SHA-512 on the client
# listener, KRaft's StandardAuthorizer allows only what an ACL allows, and the one super user is
# the admin principal. The controller listener authenticates with SASL/PLAIN (KRaft controllers
# cannot use SCRAM: its credentials live in the metadata log they serve) against a static JAAS
# entry for the admin only. Nothing is encrypted (no TLS): see docs/security.md, "Kafka".

KAFKA_ADMIN_USER=admin
# The platform's own principals: file name in $KAFKA_CREDENTIALS_DIR -> SCRAM user name.
declare -A KAFKA_PRINCIPALS=([admin]=admin [control-plane]=throwbox-control-plane [agent]=throwbox-agent)

# kafka_credentials: write $KAFKA_CREDENTIALS_DIR/<who>.properties (username=, password=) for
# every principal that has none yet; mode 0600 in a 0700 directory. Existing files are kept.
kafka_credentials() {
  local who
  (umask 077; mkdir -p "$KAFKA_CREDENTIALS_DIR")
  chmod 700 "$KAFKA_CREDENTIALS_DIR"
  for who in "${!KAFKA_PRINCIPALS[@]}"; do
    [ -s "$KAFKA_CREDENTIALS_DIR/$who.properties" ] && continue
    (umask 077
     printf 'username=%s\npassword=%s\n' "${KAFKA_PRINCIPALS[$who]}" \
       "$(head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 40)" \
       >"$KAFKA_CREDENTIALS_DIR/$who.properties.tmp"
     mv "$KAFKA_CREDENTIALS_DIR/$who.properties.tmp" "$KAFKA_CREDENTIALS_DIR/$who.properties")
  done
}

# kafka_secret WHO: the password of $KAFKA_CREDENTIALS_DIR/WHO.properties.
kafka_secret() { sed -n 's/^password=//p' "$KAFKA_CREDENTIALS_DIR/$1.properties"; }

# kafka_properties NODE_ID HOST VOTERS DATA_DIR REPLICAS MIN_ISR: server.properties on stdout
# (it holds the admin's password: write it with umask 077).
kafka_properties() {
  local node_id=$1 host=$2 voters=$3 data_dir=$4 replicas=$5 min_isr=$6
  local max_record_bytes=$((17 * 1024 * 1024))   # 16 MiB payload (topics.MAX_RECORD_BYTES) + batch overhead
  local admin_secret
  admin_secret=$(kafka_secret admin)
  cat <<PROPS
# Written by scripts/kafka/broker.sh on every start: edit the script, not this file.
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=SASL_PLAINTEXT://$host:$KAFKA_PORT,CONTROLLER://$host:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_PLAINTEXT://$host:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$KAFKA_ADMIN_USER" password="$admin_secret";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$KAFKA_ADMIN_USER" password="$admin_secret" user_$KAFKA_ADMIN_USER="$admin_secret";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$KAFKA_ADMIN_USER
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

# kafka_format PROPS CLUSTER_ID LOG: format the storage of PROPS's log.dirs once, with the
# platform principals' SCRAM credentials (the brokers need the admin's before they can talk to
# each other; tenants' are added later over the Admin API).
kafka_format() {
  local props=$1 cluster_id=$2 logfile=$3 who scram=()
  for who in "${!KAFKA_PRINCIPALS[@]}"; do
    scram+=(--add-scram "SCRAM-SHA-512=[name=${KAFKA_PRINCIPALS[$who]},password=$(kafka_secret "$who")]")
  done
  log "formatting kafka storage of $props (cluster $cluster_id)"
  java "${KAFKA_JAVA_OPTS[@]}" "${KAFKA_CP[@]}" kafka.tools.StorageTool format --ignore-formatted \
    -t "$cluster_id" -c "$props" "${scram[@]}" >>"$logfile" 2>&1 || die "kafka storage format failed (see $logfile)"
  touch "${props%/*}/scram-users-added"
}

# kafka_check_storage PROPS: die when PROPS's storage was formatted before the brokers were
# secured (no SCRAM users: nobody, not even the brokers, could authenticate). The users can only
# be added at format time or by an authenticated admin, so the data must go once.
kafka_check_storage() {
  local props=$1 data
  data=$(sed -n 's/^log.dirs=//p' "$props")
  [ -f "$data/meta.properties" ] && [ ! -e "${props%/*}/scram-users-added" ] || return 0
  die "kafka storage $data was formatted before Kafka authentication (SASL/SCRAM) and has no users: stop the broker, remove $data (its topics and run history go) and start again"
}

# The broker's command line (after any namespace prefix): java ... kafka.Kafka PROPS.
kafka_command() { printf '%s\0' java "${KAFKA_JAVA_OPTS[@]}" "${KAFKA_CP[@]}" kafka.Kafka "$1"; }
