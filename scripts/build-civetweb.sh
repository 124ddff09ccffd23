#!/usr/bin/env bash
# Builds CivetWeb from Debian's own `civetweb` source package as a static
# library in build-deps/civetweb (git-ignored), which scripts/build.sh hands
# to CMake. Debian's libcivetweb1 is built for the OpenSSL 1.1 API, loads
# OpenSSL at run time by the -dev package's names, and has no IPv6; this
# build links OpenSSL 3 directly (OPENSSL_API_3_0, NO_SSL_DL) and has IPv6
# (USE_IPV6). See the README, "Building".
#
# The source is the version of the installed libcivetweb-dev (a dependency of
# prometheus-cpp-dev), so a Debian update of civetweb rebuilds ours on the
# next run. apt-get fetches it through the archive's signed index (as a plain
# `apt-get source` does) with private source and list directories: the
# system's apt configuration and package lists are not touched. dpkg-source
# checks the files against the .dsc's checksums when it unpacks them.
#
# Idempotent: exits at once when the prefix holds this version built with
# these options. Needs cmake, gcc, dpkg-dev, libssl-dev; network only when it
# builds.
#   scripts/build-civetweb.sh    (run by scripts/install-deps.sh and deploy/Dockerfile)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$PWD/build-deps/civetweb
work=$PWD/build-deps/civetweb-work
log() { echo "build-civetweb: $*"; }

version=$(dpkg-query -W -f='${source:Version}' libcivetweb-dev 2>/dev/null) || {
  log "libcivetweb-dev is not installed: it names the civetweb source version to build" >&2
  exit 1
}
options=(
  -DCMAKE_BUILD_TYPE=None -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON
  # TLS: OpenSSL linked, 3.0 API (1.15's CMake has no switch for it: the
  # define goes into CFLAGS below).
  -DCIVETWEB_ENABLE_SSL=ON -DCIVETWEB_ENABLE_SSL_DYNAMIC_LOADING=OFF
  -DCIVETWEB_SSL_OPENSSL_API_1_0=OFF -DCIVETWEB_SSL_OPENSSL_API_1_1=OFF
  -DCIVETWEB_ENABLE_IPV6=ON
  # Only the library: no server executable, C++ wrapper, CGI, file serving
  # or websockets (the exporter serves its own handlers).
  -DCIVETWEB_ENABLE_SERVER_EXECUTABLE=OFF -DCIVETWEB_INSTALL_EXECUTABLE=OFF
  -DCIVETWEB_BUILD_TESTING=OFF -DCIVETWEB_ENABLE_CXX=OFF -DCIVETWEB_DISABLE_CGI=ON
  -DCIVETWEB_SERVE_NO_FILES=ON -DCIVETWEB_ENABLE_WEBSOCKETS=OFF
)
# Debian's own compiler and hardening flags, as its package build uses.
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cflags="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CFLAGS) -DOPENSSL_API_3_0"
stamp="civetweb $version; ${options[*]}; CFLAGS=$cflags"
if [ "$(cat "$prefix/.stamp" 2>/dev/null)" = "$stamp" ]; then
  log "civetweb $version already built in build-deps/civetweb"
  exit 0
fi

log "building civetweb $version from Debian's source package"
start=$SECONDS
rm -rf "$work"
mkdir -p "$work/sources" "$work/lists/partial" "$work/cache" "$work/download"
# The machine's Debian archives, for source packages.
shopt -s nullglob
for f in /etc/apt/sources.list.d/*.sources; do
  sed 's/^Types:.*/Types: deb-src/' "$f" > "$work/sources/$(basename "$f")"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] && sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" > "$work/sources/$(basename "$f" .list).list"
done
shopt -u nullglob
apt_options=(-o Dir::Etc::SourceParts="$work/sources" -o Dir::Etc::SourceList=/dev/null
             -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache")
# apt downloads as its sandbox user where it can write.
if [ "$(id -u)" -eq 0 ] && id _apt > /dev/null 2>&1; then chown _apt "$work/download"; fi
apt-get "${apt_options[@]}" -qq update
(cd "$work/download" && apt-get "${apt_options[@]}" -qq source --download-only "civetweb=$version")
# It cannot check the maintainer's signature of the .dsc without
# debian-keyring and says so; apt has checked the files against the
# archive's signed index already.
dpkg-source -x "$work/download"/civetweb_*.dsc "$work/src" > "$work/unpack.log" 2>&1 ||
  { cat "$work/unpack.log"; exit 1; }

CFLAGS=$cflags LDFLAGS=$(dpkg-buildflags --get LDFLAGS) \
  cmake -S "$work/src" -B "$work/build" "${options[@]}" -DCMAKE_INSTALL_PREFIX="$prefix.new" \
  -DCMAKE_INSTALL_LIBDIR=lib > "$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; exit 1; }
cmake --build "$work/build" -j "$(nproc)" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
rm -rf "$prefix.new"
cmake --install "$work/build" > /dev/null
echo "$stamp" > "$prefix.new/.stamp"
rm -rf "$prefix"
mv "$prefix.new" "$prefix"
rm -rf "$work"
log "civetweb $version built in build-deps/civetweb ($((SECONDS - start)) s)"
