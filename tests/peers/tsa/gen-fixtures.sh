#!/bin/sh
# Regenerates the committed fixtures in fixtures/ (run once; the unit tests of
# crates/vigie-evidence/src/tsa.rs read them). Needs openssl 3.
#   ec/     P-256 CA and TSA; query.tsq (nonce); resp.tsr; token.der; rejected.tsr;
#           tsa-twin.crt (same key, issuer and serial as tsa.crt)
#   rsa/    the same with an RSA 2048 TSA key (the CA stays P-256)
#   other/  another CA (ca.crt only): tokens must not chain to it
#   weak/   tokens over ec/checkpoint.txt signed with `openssl cms` by certificates of
#           the ec CA whose extended key usage is not critical, or not timeStamping
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/fixtures"
rm -rf "$out"
mkdir -p "$out"
cd "$out"
cat > checkpoint.txt <<'CP'
vigie-checkpoint-v1
log: vigie-test-log
size: 3
root: 5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef
time-ms: 1795680000000
alg: ecdsa-p256-sha256
signature: MEUCIQDtestonlynotarealsignaturebutfixedbytesforthetsatests==
CP
stamp() { # DIR: query, reply, token over checkpoint.txt with the TSA in DIR
  openssl ts -query -data checkpoint.txt -sha256 -cert -out "$1/query.tsq"
  TSA_DIR="$out/$1" openssl ts -reply -config "$here/tsa.cnf" -queryfile "$1/query.tsq" -out "$1/resp.tsr"
  openssl ts -reply -in "$1/resp.tsr" -token_out -out "$1/token.der"
  openssl ts -verify -data checkpoint.txt -in "$1/resp.tsr" -CAfile "$1/ca.crt" -untrusted "$1/tsa.crt"
}
"$here/make-ca.sh" "$out/ec"
stamp ec
# A refused query (SHA-1 when the TSA takes SHA-256 only): a rejection reply.
openssl ts -query -data checkpoint.txt -sha1 -cert -out ec/query-sha1.tsq
TSA_DIR="$out/ec" openssl ts -reply -config "$here/tsa.cnf" -queryfile ec/query-sha1.tsq -out ec/rejected.tsr
rm ec/query-sha1.tsq
# A twin of ec/tsa.crt: same key, issuer and serial, another validity. Put
# in the token instead of the real one, the signature still verifies: only
# the ESSCertIDv2 hash tells them apart.
openssl req -new -key ec/tsa.key -subj "/CN=Test TSA" -out ec/twin.csr 2>/dev/null
serial=$(openssl x509 -in ec/tsa.crt -noout -serial | cut -d= -f2)
TSA_DIR="$out/ec" openssl x509 -req -in ec/twin.csr -CA ec/ca.crt -CAkey ec/ca.key \
  -set_serial "0x$serial" -out ec/tsa-twin.crt -days 3000 -extfile "$here/tsa.cnf" -extensions v3_tsa 2>/dev/null
rm ec/twin.csr
TSA_KEY=rsa "$here/make-ca.sh" "$out/rsa"
stamp rsa
"$here/make-ca.sh" "$out/other"
rm -f other/ca.key other/tsa.key other/tsa.crt other/ca.srl other/tsaserial
mkdir -p weak
openssl cms -verify -noverify -inform DER -in ec/token.der -out weak/tstinfo.der
for kind in noncritical codesigning; do
  case $kind in
    noncritical) eku="extendedKeyUsage = timeStamping" ;;
    codesigning) eku="extendedKeyUsage = critical, codeSigning" ;;
  esac
  printf '[ext]\nbasicConstraints = critical, CA:FALSE\n%s\n' "$eku" > weak/$kind.cnf
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout weak/$kind.key \
    -out weak/$kind.csr -subj "/CN=Test TSA $kind" 2>/dev/null
  openssl x509 -req -in weak/$kind.csr -CA ec/ca.crt -CAkey ec/ca.key -CAcreateserial \
    -out weak/$kind.crt -days 3650 -extfile weak/$kind.cnf -extensions ext 2>/dev/null
  openssl cms -sign -binary -nodetach -in weak/tstinfo.der -outform DER -md sha256 -nosmimecap \
    -econtent_type 1.2.840.113549.1.9.16.1.4 -signer weak/$kind.crt -inkey weak/$kind.key \
    -out weak/token-$kind.der
  rm -f weak/$kind.csr weak/$kind.cnf
done
rm -f ./*/ca.srl ./*/tsaserial weak/tstinfo.der
