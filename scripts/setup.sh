#!/bin/sh
# setup.sh — installs every Debian package ribbon needs to build, test and
# benchmark. Idempotent: when all packages are present it does nothing; when
# something is missing it runs `apt-get update` once, then installs only what
# is missing. Called first by `make run`, `make test`, `make bench` and
# `make fuzz`; nothing is downloaded at build time and nothing is vendored.
set -eu

PACKAGES="
build-essential cmake ninja-build pkg-config
openssl libssl-dev
libgmime-3.0-dev libglib2.0-dev
libcli11-dev nlohmann-json3-dev
libgtest-dev
libnss3-tools gpgsm gpg-agent
clang libclang-rt-14-dev
python3 time
softhsm2 libengine-pkcs11-openssl libp11-kit-dev
libtomlplusplus-dev libspdlog-dev libboost-dev
postfix swaks libnet-ssleay-perl
libsqlite3-dev libpq-dev postgresql-15
libicu-dev
libre2-dev
libpsl-dev publicsuffix
curl chromium libjs-chart.js prometheus prometheus-cpp-dev
mandoc
debhelper dpkg-dev fakeroot lintian
opendkim
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

echo "setup: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive UCF_FORCE_CONFFOLD=1
# The milter tests run their own private Postfix instance; the package must
# not configure and start a system MTA on port 25 as a side effect.
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
# Likewise PostgreSQL: the store tests initdb their own server in a temporary
# directory; the package must not create and start a system cluster.
$SUDO mkdir -p /etc/postgresql-common
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
# And prometheus (wanted for promtool, which checks the daemons' metrics):
# its package would start a Prometheus server on port 9090. A policy-rc.d
# that answers 101 ("action forbidden", invoke-rc.d(8)) keeps every
# package's service from starting during this install.
policy_rc_d=/usr/sbin/policy-rc.d
own_policy=no
if [ ! -e "$policy_rc_d" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy_rc_d" >/dev/null
    $SUDO chmod 755 "$policy_rc_d"
    own_policy=yes
fi
$SUDO apt-get update -q
# Keep the createcluster.conf written above when the package brings its own.
# shellcheck disable=SC2086
status=0
$SUDO apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing || status=$?
if [ "$own_policy" = yes ]; then
    $SUDO rm -f "$policy_rc_d"
fi
exit "$status"
