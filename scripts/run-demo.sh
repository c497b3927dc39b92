#!/bin/sh
# run-demo.sh RIBBON — what `make run` does until the relay exists: makes a
# throw-away test Digital ID (a local root, an intermediate and a certificate
# for no-reply@example.com, all with openssl), signs a sample do-not-reply
# message with it, verifies the result with `ribbon verify` and with
# `openssl cms -verify`, and leaves everything in var/demo/ to look at.
# The keys are test keys made on the spot; never use them for real mail.
set -eu
RIBBON=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SCRIPTS=$(cd "$(dirname "$0")" && pwd)
DEMO=var/demo
mkdir -p "$DEMO"
cd "$DEMO"

if [ ! -f rsa.pem ]; then
    echo "run: making a throw-away test Digital ID for no-reply@example.com in $DEMO"
    sh "$SCRIPTS/make-test-pki.sh" . no-reply@example.com
fi

cat > message.eml <<EOF2
From: Example Shop <no-reply@example.com>
To: customer@example.org
Subject: Your order 10421 has shipped
Date: $(date -R)
Message-ID: <order-10421-$(date +%s)@example.com>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hello,

your order 10421 (2 items, 59,90 €) left our warehouse today.
From now on you can follow it at https://shop.example.com/orders/10421

This is an automated message; please do not reply.
EOF2

"$RIBBON" sign --key rsa.key --cert rsa.pem --chain intermediate.pem -o signed.eml message.eml
echo "run: signed $DEMO/message.eml -> $DEMO/signed.eml ($(wc -c < signed.eml) bytes)"
echo "run: ribbon verify --ca $DEMO/root.pem $DEMO/signed.eml"
"$RIBBON" verify --ca root.pem signed.eml
echo "run: openssl cms -verify says:"
openssl cms -verify -in signed.eml -CAfile root.pem -out /dev/null
