# Kafka settings shared by ensure-kafka.sh, start-kafka.sh and stop-kafka.sh: sourced after common.sh.
# Every broker setting comes from the environment so a benchmark can run a private broker
# with the same scripts, e.g.:
#   THROWBOX_KAFKA_NAME=kafka-bench THROWBOX_KAFKA_PORT=19092 THROWBOX_KAFKA_CONTROLLER_PORT=19093 \
#     scripts/start-kafka.sh   # ... scripts/stop-kafka.sh with the same variables
KAFKA_VERSION="${THROWBOX_KAFKA_VERSION:-4.1.1}"
KAFKA_NAME="${THROWBOX_KAFKA_NAME:-kafka}"                    # pid/log file name in .state/run, .state/logs
KAFKA_PORT="${THROWBOX_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${THROWBOX_KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HOST="${THROWBOX_KAFKA_HOST:-127.0.0.1}"
KAFKA_DIR="${THROWBOX_KAFKA_DIR:-$STATE_DIR/$KAFKA_NAME}"    # server.properties + data/
KAFKA_HEAP="${THROWBOX_KAFKA_HEAP:-512m}"
KAFKA_BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"
# The SCRAM credentials of the admin and of each component (scripts/kafka/broker.sh writes them
# once, mode 0600): <dir>/admin.properties, control-plane.properties, agent.properties.
KAFKA_CREDENTIALS_DIR="${THROWBOX_KAFKA_CREDENTIALS_DIR:-$KAFKA_DIR/credentials}"
# A Kafka distribution ($KAFKA_HOME/libs) wins over the jars resolved from Maven Central.
if [ -n "${KAFKA_HOME:-}" ]; then
  KAFKA_LIB="$KAFKA_HOME/libs"
else
  KAFKA_LIB="$CACHE_DIR/kafka/$KAFKA_VERSION/lib"
fi
