#!/bin/sh
# build-deb.sh [OUT] — `make deb`: builds the Debian package from this tree
# in a copy under OUT (default build-deb/), so neither the tree nor build/
# is touched, then runs lintian on it. Offline: dpkg-buildpackage checks the
# Build-Depends (scripts/setup.sh installs them) and downloads nothing.
# Leaves OUT/ribbon_<version>_<arch>.deb and prints its path last.
set -eu
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-build-deb}" && cd "${1:-build-deb}" && pwd)

# One version: CMake's project VERSION is what `ribbon --version` prints,
# and debian/changelog's must be the same (a native package: no revision).
version=$(dpkg-parsechangelog -S Version)
cmake_version=$(sed -n 's/^project(ribbon VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
if [ "$version" != "$cmake_version" ]; then
    echo "build-deb: debian/changelog says $version, CMakeLists.txt project VERSION $cmake_version" >&2
    exit 1
fi

# The copy: the tree without build output, the demo's var/ or git's data.
src="$out/ribbon-$version"
rm -rf "$src"
mkdir -p "$src"
tar --exclude=./.git --exclude=./build --exclude='./build-*' --exclude=./var --exclude='./obj-*' \
    -cf - . | tar -xf - -C "$src"

# ccache (when installed) makes a rebuild of unchanged sources quick; CMake
# reads the launcher from the environment (CMake 3.17+).
if command -v ccache >/dev/null 2>&1; then
    export CMAKE_CXX_COMPILER_LAUNCHER=ccache CMAKE_C_COMPILER_LAUNCHER=ccache
fi
export DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS:-}"
rm -f "$out"/ribbon_* "$out"/ribbon-dbgsym_*
(cd "$src" && dpkg-buildpackage -us -uc -b)

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
changes="$out/ribbon_${version}_${arch}.changes"
# Errors fail the build. What lintian reports besides, and why it stays:
#  W no-manual-page: the man pages are written apart (issue 16, part 5);
#    CMakeLists.txt installs every man/*.N present, and the warning goes
#    when they are in the tree.
#  I package-supports-alternative-init-but-no-init.d-script: the daemons
#    run in the foreground under systemd; there is no init.d script.
#  I spelling-error-in-binary (anothe, certificat, nott): not words of
#    ribbon's but pieces of the compiler's merged string table ("the
#    certificat" + "e names ..."); the sources spell them right.
lintian --fail-on error --display-info "$changes"
echo "$out/ribbon_${version}_${arch}.deb"
