#!/usr/bin/env bash
# Builds the image base from Debian's packages when no registry is reachable (docker.io is not,
# on the machines this project is developed on): a minimal bookworm with python3 and venv,
# made by mmdebstrap and imported into podman. Then build the gateway image on it:
#   podman build --build-arg BASE=localhost/telemetryhub-base:bookworm -f deploy/Dockerfile .
# Usage: deploy/podman/build-base.sh [IMAGE]   (needs root, mmdebstrap and podman)
set -euo pipefail
image=${1:-localhost/telemetryhub-base:bookworm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$work/rootfs.tar"
podman import --quiet "$work/rootfs.tar" "$image" >/dev/null
echo "$image"
