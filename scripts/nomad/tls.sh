#!/usr/bin/env bash
# A small CA and the RPC certificates of a local cluster (docs/security.md): mutual TLS between
# Consul agents and between Nomad agents. Idempotent; keys 0600 in DIR (0700).
#   tls.sh DIR DATACENTER NOMAD_REGION ADDR...
# DIR/ca.pem, ca-key.pem; consul-server.pem/-key.pem (SAN server.<dc>.consul), consul-client.pem;
# nomad-server.pem (server.<region>.nomad), nomad-client.pem (client.<region>.nomad). Every
# certificate also names localhost, 127.0.0.1 and ADDR... (the nodes' addresses).
# verify_server_hostname makes the server names matter: a client certificate cannot pose as
# a server.
set -euo pipefail
dir=${1:?usage: tls.sh DIR DATACENTER NOMAD_REGION ADDR...}; dc=${2:?}; region=${3:?}; shift 3
mkdir -p "$dir" && chmod 700 "$dir"
umask 077
days=825
if [ ! -s "$dir/ca.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
    -subj "/CN=Throwbox cluster CA" -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null
fi
sans="DNS:localhost,IP:127.0.0.1$(printf ',IP:%s' "$@")"
cert() {
  local name=$1 cn=$2 usage=$3
  [ -s "$dir/$name.pem" ] && return 0
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$cn" \
    -keyout "$dir/$name-key.pem" -out "$dir/$name.csr" 2>/dev/null
  printf 'subjectAltName=DNS:%s,%s\nextendedKeyUsage=%s\nkeyUsage=digitalSignature,keyEncipherment\n' \
    "$cn" "$sans" "$usage" >"$dir/$name.ext"
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial \
    -days "$days" -extfile "$dir/$name.ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr" "$dir/$name.ext"
}
cert consul-server "server.$dc.consul" serverAuth,clientAuth
cert consul-client "client.$dc.consul" clientAuth,serverAuth
cert nomad-server "server.$region.nomad" serverAuth,clientAuth
cert nomad-client "client.$region.nomad" serverAuth,clientAuth
