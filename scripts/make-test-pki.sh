#!/bin/sh
# make-test-pki.sh DIR ADDRESS [DAYS] — a throw-away test PKI made with the
# openssl command, for `make run` and `make bench`: DIR/root.pem (+key),
# DIR/intermediate.pem (+key) and two Digital IDs for ADDRESS issued by the
# intermediate: DIR/rsa.{key,pem} (RSA-2048) and DIR/ec.{key,pem} (ECDSA
# P-256), with subjectAltName email, keyUsage digitalSignature and
# extendedKeyUsage emailProtection. Serials are random (NSS identifies
# certificates by issuer and serial). Test keys only: never for real mail.
set -eu
DIR=$1
ADDRESS=$2
DAYS=${3:-365}
mkdir -p "$DIR"
cd "$DIR"
umask 077
cat > ext.cnf <<CNF
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
[leaf]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=emailProtection
subjectAltName=email:$ADDRESS
CNF
serial() { echo "0x$(openssl rand -hex 16)"; }
openssl req -x509 -newkey rsa:3072 -nodes -keyout root.key -out root.pem -days "$DAYS" \
    -subj "/O=ribbon test/CN=ribbon test root (TEST ONLY)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
openssl req -newkey rsa:3072 -nodes -keyout intermediate.key -out intermediate.csr \
    -subj "/O=ribbon test/CN=ribbon test intermediate (TEST ONLY)" 2>/dev/null
openssl x509 -req -in intermediate.csr -CA root.pem -CAkey root.key -days "$DAYS" \
    -set_serial "$(serial)" -extfile ext.cnf -extensions ca -out intermediate.pem 2>/dev/null
for t in rsa ec; do
    if [ $t = rsa ]; then set -- -newkey rsa:2048; else set -- -newkey ec -pkeyopt ec_paramgen_curve:P-256; fi
    openssl req "$@" -nodes -keyout $t.key -out $t.csr -subj "/O=ribbon test/CN=$ADDRESS ($t)" 2>/dev/null
    openssl x509 -req -in $t.csr -CA intermediate.pem -CAkey intermediate.key -days "$DAYS" \
        -set_serial "$(serial)" -extfile ext.cnf -extensions leaf -out $t.pem 2>/dev/null
done
rm -f ./*.csr ext.cnf
