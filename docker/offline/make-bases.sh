#!/usr/bin/env bash
# Build the two base images docker/compose.offline.yml needs without any container registry:
# a Debian bookworm minbase root filesystem from the Debian mirror (debootstrap), imported with
# `docker import`. Needs root, debootstrap and a reachable Debian mirror (apt's own, or MIRROR=…).
#
#   local/python:3.11-bookworm     python3 + python3-venv (Debian's Python 3.11): the bot image's base
#   local/postgres:15-bookworm     postgresql-15: the database image's base (docker/offline/postgres/)
#
# Usage: sudo docker/offline/make-bases.sh [workdir]   (workdir default /var/tmp/digestbot-bases)
#
# The host's own extra certificate authorities (/usr/local/share/ca-certificates/*.crt, e.g. a TLS-
# inspecting egress proxy's) are trusted in the images too, as they are on the host: without them pip
# in `docker build` cannot reach PyPI through such a proxy. HOST_CAS=no leaves them out.
set -euo pipefail

MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=${SUITE:-bookworm}
WORK=${1:-/var/tmp/digestbot-bases}
mkdir -p "$WORK/cache"

# Lean root filesystems: no docs, man pages, locales or apt lists left in the image.
slim() {
    local root=$1
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log
    find "$root"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
    printf 'deb %s %s main\n' "$MIRROR" "$SUITE" > "$root"/etc/apt/sources.list
}

trust_host_cas() {
    local root=$1 cas=(/usr/local/share/ca-certificates/*.crt)
    [[ ${HOST_CAS:-yes} == no || ! -e ${cas[0]} ]] && return
    cp "${cas[@]}" "$root"/usr/local/share/ca-certificates/
    chroot "$root" update-ca-certificates >/dev/null
    echo "  trusting the host's extra CAs: ${cas[*]##*/}"
}

build() {
    local name=$1 tag=$2 include=$3 changes=$4
    local root="$WORK/$name"
    if docker image inspect "$tag" >/dev/null 2>&1; then
        echo "$tag: already there (docker rmi $tag to rebuild)"
        return
    fi
    rm -rf "$root"
    echo "$tag: debootstrap $SUITE ($include) into $root"
    debootstrap --variant=minbase --include="$include" --cache-dir="$WORK/cache" "$SUITE" "$root" "$MIRROR" >"$WORK/$name.log" 2>&1 \
        || { echo "$tag: debootstrap failed, see $WORK/$name.log" >&2; tail -5 "$WORK/$name.log" >&2; exit 1; }
    trust_host_cas "$root"
    slim "$root"
    local args=()
    while IFS= read -r change; do [[ -n $change ]] && args+=(--change "$change"); done <<<"$changes"
    tar -C "$root" -c . | docker import "${args[@]}" - "$tag" >/dev/null
    rm -rf "$root"
    echo "$tag: $(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
}

build python local/python:3.11-bookworm python3,python3-venv,ca-certificates "ENV LANG=C.UTF-8
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD [\"python3\"]"

build postgres local/postgres:15-bookworm postgresql-15,ca-certificates "ENV LANG=C.UTF-8
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD [\"postgres\"]"
