#!/usr/bin/env bash
# Set-up for a fresh Debian 12 or 13 machine, run as root. Idempotent: every step first checks
# whether its result is already there, so a second run takes about a second.
#
#   1. apt packages: runc, iptables (CRIU's network lock needs iptables-restore), busybox-static
#      (the example and test bundles), python3-venv where the system python lacks venv.
#   2. a CRIU that passes `criu check` on this kernel. Debian 13's criu 4.x works as installed.
#      Debian 12's criu 3.17 fails on recent kernels ("vdso: Unexpected rt vDSO area bounds"), so
#      there criu 4.x and the libraries it needs are fetched from the trixie suite with a private
#      apt configuration, unpacked into .venv/criu-root and run through .venv/bin/criu, a wrapper
#      that starts it with that prefix's own dynamic loader. The system's apt setup is untouched.
#   3. .venv at the repo root with the package installed editable, plus its test dependencies.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv"
python=${PYTHON:-python3}

log() { printf 'install: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    log "must run as root (runc and CRIU need it)"
    exit 1
fi

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        apt-get update -qq
        apt_updated=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# --- 1. system packages ---------------------------------------------------------------------------
missing=()
for pkg in runc iptables busybox-static; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    missing+=(python3-venv)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

# --- 2. a working CRIU ----------------------------------------------------------------------------
criu_works() { "$1" check >/dev/null 2>&1; }

install_private_criu() {
    # Debian 12: criu 4.x from trixie, unpacked beside the venv (see the header).
    local work="$venv/criu-root" tmp
    tmp=$(mktemp -d)
    mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
    # The machine's own mirror and keyring, with the suite swapped for trixie.
    local sources=/etc/apt/sources.list.d/debian.sources uris signed_by
    uris=$(awk '/^URIs:/ {print $2; exit}' "$sources" 2>/dev/null || true)
    signed_by=$(awk '/^Signed-By:/ {print $2; exit}' "$sources" 2>/dev/null || true)
    cat >"$tmp/trixie.sources" <<SOURCES
Types: deb
URIs: ${uris:-http://deb.debian.org/debian}
Suites: trixie
Components: main
Signed-By: ${signed_by:-/usr/share/keyrings/debian-archive-keyring.gpg}
SOURCES
    local opts=(-o "Dir::Etc::SourceList=$tmp/trixie.sources" -o Dir::Etc::SourceParts=/dev/null
                -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::Archives=$tmp/archives"
                -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
    log "fetching criu 4.x from trixie into $work"
    apt-get "${opts[@]}" update -qq
    # criu and the whole closure of what it links against, trixie versions throughout, so that
    # the prefix's loader never mixes in bookworm's libraries.
    local pkgs
    pkgs=$(apt-cache "${opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
               --no-breaks --no-replaces --no-enhances criu | grep -v '^ ' | grep -v '^<' | sort -u)
    (cd "$tmp/archives" && apt-get "${opts[@]}" download $pkgs >/dev/null)
    rm -rf "$work"
    mkdir -p "$work"
    for deb in "$tmp"/archives/*.deb; do
        dpkg-deb -x "$deb" "$work"
    done
    local libdir="$work/usr/lib/x86_64-linux-gnu"
    [ "$(uname -m)" = aarch64 ] && libdir="$work/usr/lib/aarch64-linux-gnu"
    local loader
    loader=$(find "$libdir" -maxdepth 1 -name 'ld-linux*.so.*' | head -n 1)
    mkdir -p "$venv/bin"
    cat >"$venv/bin/criu" <<WRAPPER
#!/bin/sh
# criu 4.x from Debian trixie, run with its own loader and libraries (scripts/install.sh).
exec "$loader" --library-path "$libdir" "$work/usr/sbin/criu" "\$@"
WRAPPER
    chmod 0755 "$venv/bin/criu"
    rm -rf "$tmp"
}

ensure_criu() {
    if [ -x "$venv/bin/criu" ] && criu_works "$venv/bin/criu"; then
        return
    fi
    if command -v criu >/dev/null && criu_works "$(command -v criu)"; then
        return
    fi
    . /etc/os-release
    if [ "${VERSION_CODENAME:-}" != bookworm ]; then
        apt_install criu
        criu_works "$(command -v criu)" && return
    fi
    install_private_criu
    if ! criu_works "$venv/bin/criu"; then
        log "criu check fails even with criu 4.x:"
        "$venv/bin/criu" check || true
        exit 1
    fi
}

# --- 3. the virtual environment -------------------------------------------------------------------
ensure_venv() {
    local stamp="$venv/.installed"
    if [ ! -x "$venv/bin/python" ]; then
        log "creating $venv"
        "$python" -m venv "$venv"
    fi
    # Reinstall only when the project's declared dependencies change.
    if [ ! -f "$stamp" ] || [ "$repo/pyproject.toml" -nt "$stamp" ]; then
        log "installing containerd-trio (editable) with test dependencies"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$repo[test]"
        touch "$stamp"
    fi
}

ensure_venv
ensure_criu
