#!/usr/bin/env bash
# Builds the tcpq_exporter container image from this repository with podman
# and deploy/Dockerfile:
#   deploy/build-image.sh [TAG]
# TAG defaults to the image deploy/kubernetes/kustomization.yaml deploys.
#
# No registry is needed: when podman has no image under a name the
# Dockerfile's FROM lines use (debian:12-slim), it makes one from Debian's
# packages with mmdebstrap (the host's apt sources) and imports it. Later runs
# reuse that base and podman's layer cache. Needs root, podman and mmdebstrap
# (scripts/install-deps.sh installs both). Prints the image's size last.
#
# CONTAINERS_CONF defaults to deploy/podman/containers.conf (what podman needs
# on hosts without systemd or CAP_SYS_RESOURCE, CI's included); set it to
# use another podman configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/podman/containers.conf}

default_tag() {  # newName:newTag of the kustomization's images: entry
  awk '/^ *newName:/{n=$2} /^ *newTag:/{t=$2} END{gsub(/"/, "", t); print n ":" t}' \
    deploy/kubernetes/kustomization.yaml
}
tag=${1:-$(default_tag)}

# The base images the Dockerfile names, other than its own stages.
mapfile -t bases < <(awk 'toupper($1)=="FROM"{print $2}' deploy/Dockerfile | sort -u |
  grep -vxF -f <(awk 'toupper($1)=="FROM" && toupper($3)=="AS"{print $4}' deploy/Dockerfile))
missing=()
for base in "${bases[@]}"; do
  podman image exists "$base" || missing+=("$base")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "build-image: making ${missing[*]} from Debian 12's packages (mmdebstrap)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # As Docker's debian:12-slim: essential packages and apt, merged /usr by
  # symlinks (not the usrmerge package, which pulls in perl), no apt binary
  # caches (80 MB in every layer that runs apt-get), no manuals,
  # documentation or translations.
  mmdebstrap --variant=apt --quiet \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='Dir::Cache::pkgcache ""' --aptopt='Dir::Cache::srcpkgcache ""' \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/groff/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='path-exclude=/usr/share/linda/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    bookworm "$tmp/base.tar"
  podman import --quiet --change 'CMD ["bash"]' "$tmp/base.tar" "localhost/${missing[0]}" > /dev/null
  for base in "${missing[@]:1}"; do podman tag "localhost/${missing[0]}" "localhost/$base"; done
fi

revision=$(git rev-parse --short=12 HEAD 2> /dev/null || echo unknown)
build() {
  podman build --pull=never --layers \
    -f deploy/Dockerfile --ignorefile deploy/Dockerfile.dockerignore \
    --build-arg REVISION="$revision" "$@" .
}
# The build stage gets a name too: an unnamed one would be pruned below, and
# with it the cache of the compile step.
build --target build -t localhost/tcpq_exporter-build-cache
build -t "$tag"
# Earlier builds' stages that no name holds any more (the Dockerfile labels
# its stages): without this every changed tree leaves a build stage behind.
podman image prune --force --filter label=org.opencontainers.image.title=tcpq_exporter \
  > /dev/null
size=$(podman image inspect --format '{{.Size}}' "$tag")
echo "build-image: $tag ($revision), $((size / 1000000)) MB"
