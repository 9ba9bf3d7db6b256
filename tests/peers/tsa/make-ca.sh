#!/bin/sh
# Creates a fresh test CA and TSA (P-256) in DIR: ca.key ca.crt tsa.key tsa.crt tsaserial.
# Test-only keys: never use them for anything but tests.
# Usage: make-ca.sh DIR [DAYS]
# TSA_KEY=rsa makes the TSA's own key RSA 2048 (qualified TSAs often sign with RSA).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: make-ca.sh DIR [DAYS]}
days=${2:-3650}
mkdir -p "$dir"
cd "$dir"
export TSA_DIR="$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout ca.key -out ca.crt -days "$days" -subj "/CN=Test TSA Root" \
  -config "$here/tsa.cnf" -extensions v3_ca
if [ "${TSA_KEY:-ec}" = rsa ]; then tsa_key="-newkey rsa:2048"
else tsa_key="-newkey ec -pkeyopt ec_paramgen_curve:P-256"; fi
# shellcheck disable=SC2086 # $tsa_key is several words on purpose
openssl req $tsa_key -nodes \
  -keyout tsa.key -out tsa.csr -subj "/CN=Test TSA" -config "$here/tsa.cnf"
openssl x509 -req -in tsa.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out tsa.crt -days "$days" -extfile "$here/tsa.cnf" -extensions v3_tsa
rm -f tsa.csr
echo 01 > tsaserial
