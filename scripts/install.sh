#!/usr/bin/env bash
# Set-up for a fresh Debian 12 or 13 machine, run as root. Idempotent: every step first checks
# whether its result is already there, so a second run takes about a second.
#
#   1. apt packages: runc, iptables (CRIU's network lock needs iptables-restore), busybox-static
#      (the example and test bundles), openssl (the TLS tests make certificates), curl (the
#      loopback tests run it as other users), chromium (the status page's tests drive it
#      headless through Playwright, which never downloads a browser here), gcc and libc6-dev
#      (`ctr-trio bench --ceiling` compiles its stand-in runtime, statically), iproute2 (a
#      restore's loopback hook runs its ip; without it the hook's Python script, 30 ms slower),
#      util-linux (nsenter: an exec into a restored container joins its init's time namespace;
#      Essential on Debian 12, named all the same), python3-venv where the system python lacks
#      venv.
#   2. a CRIU that works on this kernel. Debian 12's criu 3.17 fails outright on recent kernels
#      ("vdso: Unexpected rt vDSO area bounds"); Debian 13's criu 4.1.1 passes `criu check` but
#      cannot dump any TCP socket on Linux 6.16 and later ("Can't get 1:16 opt": the kernel
#      restricted SO_PASSCRED/SO_PASSSEC to unix sockets; fixed in criu 4.2, upstream issue
#      #2718). So unless the system's criu is good, criu 4.2+ and the libraries it needs are
#      fetched from Debian sid (trixie as a fallback) with a private apt configuration, unpacked
#      into .venv/criu-root and run through .venv/bin/criu, a wrapper that starts it with that
#      prefix's own dynamic loader. The system's apt setup is untouched.
#   3. .venv at the repo root with the package installed editable, plus its test dependencies,
#      on the distribution's python3 (see pick_python).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/.venv"

# The interpreter: $PYTHON if given, else the distribution's own python3 when it is 3.11 or
# later, else python3 from PATH. A python3 that comes first on PATH (a pyenv build, say) may
# be built without PGO and LTO: on one, the daemon's processes took about 13% more CPU per
# start against runc's (docs/performance.md). Debian builds its own with both.
pick_python() {
    if [ -n "${PYTHON:-}" ]; then
        echo "$PYTHON"
    elif [ -x /usr/bin/python3 ] \
        && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo /usr/bin/python3
    else
        echo python3
    fi
}
python=$(pick_python)

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
    # Wait for another apt run (a second worktree's install) instead of failing at once.
    DEBIAN_FRONTEND=noninteractive apt-get install -o DPkg::Lock::Timeout=600 -y -qq \
        --no-install-recommends "$@" >/dev/null
}

# --- 1. system packages ---------------------------------------------------------------------------
missing=()
for pkg in runc iptables busybox-static openssl curl chromium gcc libc6-dev iproute2 util-linux; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    missing+=(python3-venv)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

# --- 2. a working CRIU ----------------------------------------------------------------------------
version_at_least() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }

criu_works() {
    local criu=$1 version
    "$criu" check >/dev/null 2>&1 || return 1
    version=$("$criu" --version 2>/dev/null | awk '/^Version:/ {print $2}')
    # Linux 6.16+ needs criu 4.2+ to dump TCP sockets (see the header).
    if version_at_least "$(uname -r | cut -d- -f1)" 6.16; then
        version_at_least "${version:-0}" 4.2 || return 1
    fi
}

install_private_criu() {
    local suite=$1 work="$venv/criu-root" tmp
    tmp=$(mktemp -d)
    mkdir -p "$tmp/lists/partial" "$tmp/archives/partial"
    # The machine's own mirror and keyring, with the suite swapped.
    local sources=/etc/apt/sources.list.d/debian.sources uris signed_by
    uris=$(awk '/^URIs:/ {print $2; exit}' "$sources" 2>/dev/null || true)
    signed_by=$(awk '/^Signed-By:/ {print $2; exit}' "$sources" 2>/dev/null || true)
    cat >"$tmp/suite.sources" <<SOURCES
Types: deb
URIs: ${uris:-http://deb.debian.org/debian}
Suites: $suite
Components: main
Signed-By: ${signed_by:-/usr/share/keyrings/debian-archive-keyring.gpg}
SOURCES
    local opts=(-o "Dir::Etc::SourceList=$tmp/suite.sources" -o Dir::Etc::SourceParts=/dev/null
                -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::Archives=$tmp/archives"
                -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
    log "fetching criu from Debian $suite into $work"
    if ! apt-get "${opts[@]}" update -qq; then
        rm -rf "$tmp"
        return 1
    fi
    # criu and the whole closure of what it links against, all from that suite, so that the
    # prefix's loader never mixes in the system's older libraries.
    local pkgs
    pkgs=$(apt-cache "${opts[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
               --no-breaks --no-replaces --no-enhances criu | grep -v '^ ' | grep -v '^<' | sort -u)
    if ! (cd "$tmp/archives" && apt-get "${opts[@]}" download $pkgs >/dev/null); then
        rm -rf "$tmp"
        return 1
    fi
    rm -rf "$work"
    mkdir -p "$work"
    for deb in "$tmp"/archives/*.deb; do
        dpkg-deb -x "$deb" "$work"
    done
    rm -rf "$tmp"
    local libdir loader
    libdir=$(dirname "$(find "$work/usr/lib" -maxdepth 2 -name 'libc.so.6' | head -n 1)")
    loader=$(find "$libdir" -maxdepth 1 -name 'ld-linux*.so.*' | head -n 1)
    mkdir -p "$venv/bin"
    cat >"$venv/bin/criu" <<WRAPPER
#!/bin/sh
# criu from Debian $suite, run with its own loader and libraries (scripts/install.sh).
exec "$loader" --library-path "$libdir" "$work/usr/sbin/criu" "\$@"
WRAPPER
    chmod 0755 "$venv/bin/criu"
}

ensure_criu() {
    if [ -x "$venv/bin/criu" ] && criu_works "$venv/bin/criu"; then
        return
    fi
    if command -v criu >/dev/null && criu_works "$(command -v criu)"; then
        rm -f "$venv/bin/criu"
        return
    fi
    local suite
    for suite in ${CRIU_SUITES:-sid trixie}; do
        if install_private_criu "$suite" && criu_works "$venv/bin/criu"; then
            return
        fi
    done
    log "no criu that works on this kernel could be installed; checkpoints will fail:"
    [ -x "$venv/bin/criu" ] && "$venv/bin/criu" check || true
    exit 1
}

# --- 3. the virtual environment -------------------------------------------------------------------
ensure_venv() {
    local stamp="$venv/.installed"
    if [ ! -x "$venv/bin/python" ]; then
        log "creating $venv with $python"
        "$python" -m venv "$venv"
    elif [ "$(readlink -f "$venv/bin/python")" != "$(readlink -f "$(command -v "$python")")" ]; then
        # Kept as it is: moving it is a rebuild (its CRIU too), which only its owner decides.
        log "note: $venv runs on $(readlink -f "$venv/bin/python"), not $python:" \
            "\`make clean install\` moves it"
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

# --- 4. the package's bytecode ------------------------------------------------------------------
# The daemon's server is a new process at each start, reload and crash of it, and imports the
# package's 126 modules each time: where PYTHONDONTWRITEBYTECODE is set (as on these machines),
# Python wrote no .pyc of them and every server compiled them all from source again, a fifth
# of its start-up's CPU (docs/reliability.md, "The gap"). Written here, and again for what
# changed since at each `make run` and `make test` (a fraction of a second when current).
"$venv/bin/python" -m compileall -q "$repo/containerd_trio" >/dev/null
