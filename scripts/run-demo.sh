#!/bin/sh
# run-demo.sh RIBBON — what `make run` does until the relay exists: makes
# sure the demo keystore var/demo/ids holds a usable Digital ID for
# no-reply@example.com, issuing one from ribbon's dev CA when it does not
# (issue 3: `make run` uses the dev CA when no Digital ID is configured),
# signs a sample do-not-reply message with it, verifies the result with
# `ribbon verify` and with `openssl cms -verify`, and leaves everything in
# var/demo/ to look at. A second run reuses the same Digital ID.
# The dev CA is TEST ONLY: no receiver trusts it; never use it for real mail.
set -eu
RIBBON=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
DEMO=var/demo
ADDRESS=no-reply@example.com
mkdir -p "$DEMO"
cd "$DEMO"

# `keys check` prints one line per address; OK or WARNING means it can sign
# now. Anything else (none yet, expired, key missing) gets a fresh one.
if ! "$RIBBON" keys --keystore ids check 2>/dev/null |
        grep -Eq "^(OK|WARNING) - $ADDRESS:"; then
    if [ ! -f ids/dev-ca/ca.pem ]; then
        echo "run: making ribbon's dev CA (TEST ONLY) in $DEMO/ids/dev-ca"
        "$RIBBON" keys --keystore ids dev-ca init > /dev/null
    fi
    echo "run: issuing a dev-CA Digital ID for $ADDRESS in $DEMO/ids"
    "$RIBBON" keys --keystore ids dev-ca issue "$ADDRESS" > /dev/null
else
    echo "run: reusing the Digital ID for $ADDRESS in $DEMO/ids"
fi
"$RIBBON" keys --keystore ids check || true

cat > message.eml <<EOF2
From: Example Shop <$ADDRESS>
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

# The keystore picks the Digital ID by the message's From address.
"$RIBBON" sign --keystore ids -o signed.eml message.eml
echo "run: signed $DEMO/message.eml -> $DEMO/signed.eml ($(wc -c < signed.eml) bytes)"
echo "run: ribbon verify --ca $DEMO/ids/dev-ca/ca.pem $DEMO/signed.eml"
"$RIBBON" verify --ca ids/dev-ca/ca.pem signed.eml
echo "run: openssl cms -verify says:"
openssl cms -verify -in signed.eml -CAfile ids/dev-ca/ca.pem -out /dev/null
