#!/bin/sh
# run-demo.sh RIBBON — what `make run` does: starts `ribbon relay` on
# 127.0.0.1:2525 in the foreground with the embedded default configuration:
#  - a keystore holding a Digital ID for no-reply@example.com, issued by
#    ribbon's dev CA on the first run (TEST ONLY: no receiver trusts it;
#    never use it for real mail) and reused afterwards;
#  - [[signer]] no-reply@example.com: its mail is signed, other mail passes;
#  - next hop maildir:var/outbox: each signed message is written and
#    fsync'ed there before the client hears 250.
# Send it a message with swaks (see README.md) and look in var/outbox/new/.
# Stop it with Ctrl-C.
set -eu
RIBBON=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ADDRESS=no-reply@example.com
PORT=${RIBBON_RUN_PORT:-2525}
mkdir -p var
VAR=$(cd var && pwd)
STATE=$VAR/demo
USER_LINE=
if [ "$(id -u)" -eq 0 ]; then
    # As root the relay drops to nobody after loading its keys; nobody must
    # be able to reach the keystore and the outbox. A checkout under a
    # private directory (/root) is not reachable, so the state then lives
    # in /var/tmp/ribbon-demo, with var/demo and var/outbox pointing there.
    USER_LINE='user = "nobody"'
    if ! runuser -u nobody -- test -x "$VAR"; then
        STATE=/var/tmp/ribbon-demo
        mkdir -p "$STATE/outbox"
        chmod 0755 "$STATE"
        [ -L "$VAR/demo" ] || { rm -rf "$VAR/demo"; ln -s "$STATE" "$VAR/demo"; }
        [ -L "$VAR/outbox" ] || { rm -rf "$VAR/outbox"; ln -s "$STATE/outbox" "$VAR/outbox"; }
    fi
fi
OUTBOX=$VAR/outbox
[ "$STATE" = "$VAR/demo" ] || OUTBOX=$STATE/outbox
mkdir -p "$STATE"
IDS=$STATE/ids

# `keys check` prints one line per address; OK or WARNING means it can sign
# now. Anything else (none yet, expired, key missing) gets a fresh one.
if ! "$RIBBON" keys --keystore "$IDS" check 2>/dev/null | grep -Eq "^(OK|WARNING) - $ADDRESS:"; then
    if [ ! -f "$IDS/dev-ca/ca.pem" ]; then
        echo "run: making ribbon's dev CA (TEST ONLY) in $IDS/dev-ca"
        "$RIBBON" keys --keystore "$IDS" dev-ca init > /dev/null
    fi
    echo "run: issuing a dev-CA Digital ID for $ADDRESS"
    "$RIBBON" keys --keystore "$IDS" dev-ca issue "$ADDRESS" > /dev/null
fi
mkdir -p "$STATE/state"
[ -z "$USER_LINE" ] || chown -R nobody "$IDS" "$STATE/state"

cat > "$STATE/ribbon.toml" <<EOF2
# Written by \`make run\` (scripts/run-demo.sh); docs/CONFIGURATION.md has every key.
[keystore]
path = "$IDS"

[[signer]]
from = "$ADDRESS"

[store]
url = "sqlite://$STATE/state/ribbon.db"

[relay]
listen = ["127.0.0.1:$PORT"]
hostname = "localhost"

[relay.next_hop]
url = "maildir:$OUTBOX"

[daemon]
$USER_LINE
EOF2

cat <<EOF2
run: ribbon relay on 127.0.0.1:$PORT, signing mail from $ADDRESS into var/outbox/new/
run: try:  swaks --server 127.0.0.1:$PORT --from $ADDRESS --to customer@example.org \\
run:         --header 'Subject: Your order has shipped' --body 'Hello from ribbon.'
run: then: openssl cms -verify -CAfile var/demo/ids/dev-ca/ca.pem -in var/outbox/new/<file> -out /dev/null
run: stop with Ctrl-C
EOF2
exec "$RIBBON" relay -c "$STATE/ribbon.toml"
