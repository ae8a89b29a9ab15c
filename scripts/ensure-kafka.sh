#!/usr/bin/env bash
# Resolve the Kafka broker jars (and a log4j2 binding) from Maven Central into the cache,
# once per version; uses $KAFKA_HOME/libs instead when KAFKA_HOME is set.
source "$(dirname "$0")/common.sh"
source "$REPO_DIR/scripts/kafka/env.sh"
if [ -n "${KAFKA_HOME:-}" ]; then
  compgen -G "$KAFKA_LIB/kafka_2.13-*.jar" >/dev/null || die "KAFKA_HOME=$KAFKA_HOME has no libs/kafka_2.13-*.jar"
  exit 0
fi
if [ -f "$KAFKA_LIB/.complete" ]; then exit 0; fi
command -v mvn >/dev/null || die "mvn missing (run scripts/install-host-packages.sh)"
log "resolving kafka $KAFKA_VERSION from Maven Central into $KAFKA_LIB"
rm -rf "$KAFKA_LIB.tmp"
mvn -q -B -Dstyle.color=never -f "$REPO_DIR/scripts/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
  -Dlib.dir="$KAFKA_LIB.tmp" dependency:copy-dependencies
compgen -G "$KAFKA_LIB.tmp/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null || die "maven produced no kafka_2.13-$KAFKA_VERSION.jar"
rm -rf "$KAFKA_LIB" && mv "$KAFKA_LIB.tmp" "$KAFKA_LIB" && touch "$KAFKA_LIB/.complete"
