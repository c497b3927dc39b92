#!/bin/sh
# test-deb.sh [OUT] — `make test-deb`: installs the package `make deb` left
# in OUT (default build-deb/) on this machine with dpkg, checks what it
# installed, uses it as an operator would (a Digital ID from a CA made here,
# check-config on the installed example, a message signed by the installed
# binary and verified by `openssl cms -verify`), removes and purges it, and
# checks that the purge left nothing. Needs root.
#
# It refuses to start when anything it would install or purge is already
# on the machine (a real ribbon installation is never touched), and its exit
# trap purges the package and removes what the package made whatever
# happens, so a failing run leaves the machine as it found it.
set -eu
cd "$(dirname "$0")/.."
out=${1:-build-deb}
version=$(dpkg-parsechangelog -S Version)
deb="$out/ribbon_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).deb"
address=no-reply@bank.example
started=$(date +%s)

fail() {
    echo "test-deb: FAIL: $*" >&2
    exit 1
}
check() {  # check DESCRIPTION COMMAND...: the command must succeed
    what=$1
    shift
    "$@" || fail "$what"
}
same() {  # same DESCRIPTION ACTUAL EXPECTED
    [ "$2" = "$3" ] || fail "$1: got \"$2\", expected \"$3\""
}

[ "$(id -u)" -eq 0 ] || fail "needs root (it installs the package with dpkg)"
[ -f "$deb" ] || fail "$deb is missing: run make deb"

# What the package owns or makes; none of it may exist before the test.
paths="/usr/bin/ribbon /etc/ribbon /var/lib/ribbon /usr/share/doc/ribbon
/lib/systemd/system/ribbon-milter.service /lib/systemd/system/ribbon-relay.service
/etc/systemd/system/multi-user.target.wants/ribbon-milter.service
/etc/systemd/system/multi-user.target.wants/ribbon-relay.service"
if dpkg-query -W -f='${Status}' ribbon 2>/dev/null | grep -qv "not-installed"; then
    fail "the ribbon package is already installed here: not touching it"
fi
for p in $paths; do
    [ ! -e "$p" ] || fail "$p already exists: not touching this machine's ribbon"
done
getent passwd ribbon >/dev/null && fail "a user ribbon already exists"
getent group ribbon >/dev/null && fail "a group ribbon already exists"

work=$(mktemp -d /tmp/ribbon-test-deb.XXXXXX)
cleanup() {
    rc=$?
    trap - EXIT INT TERM
    if dpkg-query -W -f='${Status}' ribbon 2>/dev/null | grep -qv "not-installed"; then
        dpkg --purge ribbon >/dev/null 2>&1 || rc=1
    fi
    # Whatever a failed purge left: nothing of it existed before the test.
    for p in $paths; do rm -rf "$p"; done
    getent passwd ribbon >/dev/null && userdel ribbon
    getent group ribbon >/dev/null && groupdel ribbon
    rm -rf "$work"
    [ "$rc" -eq 0 ] || echo "test-deb: failed; the machine is cleaned up" >&2
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

echo "test-deb: installing $deb"
check "dpkg -i" dpkg -i "$deb"

# ---- what the package installed --------------------------------------------
check "/usr/bin/ribbon is an executable" test -x /usr/bin/ribbon
same "/usr/bin/ribbon owner and mode" "$(stat -c '%U:%G %a' /usr/bin/ribbon)" "root:root 755"
same "ribbon --version, first line" "$(/usr/bin/ribbon --version | head -n 1)" "ribbon $version"
same "ribbon --version, lines" "$(/usr/bin/ribbon --version | cut -d' ' -f1 | tr '\n' ' ')" \
    "ribbon OpenSSL GMime milter "

same "conffiles" "$(dpkg-query -W -f='${Conffiles}' ribbon | awk 'NF { print $1 }')" "/etc/ribbon/ribbon.toml"
check "the installed ribbon.toml is the example" cmp -s /etc/ribbon/ribbon.toml etc/ribbon.toml
same "/etc/ribbon/ribbon.toml owner and mode" "$(stat -c '%U:%G %a' /etc/ribbon/ribbon.toml)" "root:root 644"

for unit in milter relay; do
    f=/lib/systemd/system/ribbon-$unit.service
    check "$f" test -f "$f"
    same "$f ExecStart" "$(sed -n 's/^ExecStart=//p' "$f")" "/usr/bin/ribbon $unit -c /etc/ribbon/ribbon.toml"
    same "$f ExecStartPre" "$(sed -n 's/^ExecStartPre=//p' "$f")" \
        "/usr/bin/ribbon check-config --quiet -c /etc/ribbon/ribbon.toml"
    doc=$(sed -n 's/^Documentation=.*file:\([^ ]*\).*/\1/p' "$f")
    check "$f Documentation= $doc exists" test -f "$doc"
    # Installed, not enabled: no WantedBy link until the operator enables it.
    check "ribbon-$unit is not enabled" test ! -e "/etc/systemd/system/multi-user.target.wants/ribbon-$unit.service"
done
# Not started either (dh_installsystemd --no-start): on installation the
# postinst starts no unit, whether systemd runs here or not (in a container
# it does not, so this reads the script; an upgrade still restarts a unit
# the operator started).
if grep -Eq "deb-systemd-invoke start|_dh_action=start" /var/lib/dpkg/info/ribbon.postinst; then
    fail "the postinst starts units: $(grep -n deb-systemd-invoke /var/lib/dpkg/info/ribbon.postinst)"
fi

check "README.md" test -f /usr/share/doc/ribbon/README.md
check "docs/CONFIGURATION.md, uncompressed" test -f /usr/share/doc/ribbon/docs/CONFIGURATION.md
check "README.Debian" test -f /usr/share/doc/ribbon/README.Debian
check "copyright" test -f /usr/share/doc/ribbon/copyright
check "the built-in client rules, for reference" cmp -s /usr/share/doc/ribbon/examples/clients.toml data/clients.toml
check "the Postfix lines" cmp -s /usr/share/doc/ribbon/examples/postfix-main.cf etc/postfix-main.cf
check "the alert rules" cmp -s /usr/share/doc/ribbon/examples/ribbon-alerts.yml etc/ribbon-alerts.yml
for page in man/*.[1-8]; do
    [ -f "$page" ] || continue
    name=$(basename "$page")
    check "man page $name" test -f "/usr/share/man/man${name##*.}/$name.gz"
done

# The system user and its state directory.
IFS=: read -r _ _ uid _ _ home shell <<EOT
$(getent passwd ribbon)
EOT
[ -n "$uid" ] || fail "no user ribbon"
[ "$uid" -lt 1000 ] || fail "ribbon's uid $uid is not a system uid"
same "ribbon's home" "$home" "/var/lib/ribbon"
same "ribbon's shell" "$shell" "/usr/sbin/nologin"
getent group ribbon >/dev/null || fail "no group ribbon"
same "/var/lib/ribbon" "$(stat -c '%U:%G %a' /var/lib/ribbon)" "ribbon:ribbon 750"
same "/var/lib/ribbon/ids" "$(stat -c '%U:%G %a' /var/lib/ribbon/ids)" "ribbon:ribbon 700"
same "/var/lib/ribbon/store" "$(stat -c '%U:%G %a' /var/lib/ribbon/store)" "ribbon:ribbon 750"

# ---- as an operator: a Digital ID, check-config, signing ---------------------
# The CA stands for the one the organisation buys its certificate from.
chmod 0755 "$work"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 400 \
    -keyout "$work/ca.key" -out "$work/ca.pem" -subj "/O=Test CA/CN=Test CA (test-deb)" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    2>/dev/null || fail "making the test CA"
# As the ribbon user, as README.Debian says: the daemons read renewed keys
# after they have dropped root.
csr=$(runuser -u ribbon -- ribbon keys generate "$address" --type ec-p256 --org "Bank") ||
    fail "ribbon keys generate"
check "the CSR $csr" test -f "$csr"
cat >"$work/ext.cnf" <<EOT
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = emailProtection
subjectAltName = email:$address
EOT
openssl x509 -req -in "$csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -set_serial 0x7E57DEB \
    -days 365 -extfile "$work/ext.cnf" -out "$work/cert.pem" 2>/dev/null || fail "the CA signing the CSR"
chmod 0644 "$work/cert.pem" "$work/ca.pem"
check "ribbon keys install" runuser -u ribbon -- ribbon keys install "$work/cert.pem" --ca "$work/ca.pem" >/dev/null
same "the keystore's files belong to ribbon" \
    "$(find /var/lib/ribbon/ids ! -user ribbon | head -n 1)" ""
check "ribbon keys check" runuser -u ribbon -- ribbon keys check >/dev/null

check "ribbon check-config on the installed example" ribbon check-config --quiet -c /etc/ribbon/ribbon.toml

printf 'From: %s\r\nTo: customer@example.org\r\nSubject: Your statement\r\nDate: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <test-deb@bank.example>\r\n\r\nYour statement is ready.\r\n' \
    "$address" >"$work/msg.eml"
chmod 0644 "$work/msg.eml"
runuser -u ribbon -- ribbon sign --keystore /var/lib/ribbon/ids <"$work/msg.eml" >"$work/signed.eml" || fail "ribbon sign as the ribbon user"
openssl cms -verify -CAfile "$work/ca.pem" -in "$work/signed.eml" -out "$work/content.eml" \
    -signer "$work/signer.pem" 2>"$work/verify.err" || fail "openssl cms -verify: $(cat "$work/verify.err")"
check "the signer is the installed certificate" cmp -s "$work/signer.pem" "$work/cert.pem"
check "the signed content is the message" grep -q "Your statement is ready." "$work/content.eml"

# ---- remove keeps the keys; purge leaves nothing -------------------------------
check "dpkg -r" dpkg -r ribbon
check "remove keeps /usr/bin/ribbon out" test ! -e /usr/bin/ribbon
check "remove keeps the conffile" test -f /etc/ribbon/ribbon.toml
check "remove keeps the Digital IDs" test -n "$(find /var/lib/ribbon/ids -name '*.key')"
getent passwd ribbon >/dev/null || fail "remove took the user away"

check "dpkg --purge" dpkg --purge ribbon
for p in $paths; do
    [ ! -e "$p" ] || fail "purge left $p"
done
if getent passwd ribbon >/dev/null; then fail "purge left the user ribbon"; fi
if getent group ribbon >/dev/null; then fail "purge left the group ribbon"; fi
leftover=$(ls /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked 2>/dev/null |
    grep ribbon || true)
same "deb-systemd-helper state after purge" "$leftover" ""
same "dpkg status after purge" "$(dpkg-query -W -f='${Status}' ribbon 2>/dev/null || true)" ""

echo "test-deb: passed in $(($(date +%s) - started)) s"
