# shellcheck shell=bash disable=SC2034
# What ./dev and ./test need on Debian 12/13 or Ubuntu 22.04/24.04, installed when missing.
# Sourced by both (bash, set -euo pipefail). Run as root, it installs the missing packages
# with apt-get; otherwise it prints the one `sudo apt-get install` line that would. uv comes
# from PyPI into a virtualenv of the user's own (no root, no PEP 668 conflict), linked
# from ~/.local/bin/uv. Nothing is done when everything is there.

# What `deployd dev` cannot run without, and what its README commands use.
DEV_PACKAGES=(postgresql nginx git python3 python3-venv ca-certificates)
DEV_EXTRAS=(curl)
# What the test suite's tests need beyond that; without them those tests are skipped
# (they fail instead under DEPLOYD_TEST_REQUIRE_ALL=1, as in CI).
# docker-compose: CI's check of compose.yaml (Debian 12: 1.29; Debian 13: the v2 plugin).
# gcc, python3-dev, libpq-dev: a public sample app's psycopg2, which pip builds from source.
# chromium: the web GUI's tests drive Debian's (Playwright from PyPI, never its own browser).
TEST_EXTRAS=(docker.io busybox-static systemd certbot pebble debootstrap age shellcheck docker-compose
             gcc python3-dev libpq-dev chromium)
# The uv this checkout is developed with; UV_VERSION=... picks another.
UV_VERSION="${UV_VERSION:-0.13.9}"

say() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
}

_command() {
    command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

# Whether what PACKAGE provides is here, by what is used rather than by package name, so
# that PostgreSQL from apt.postgresql.org, nginx.org's nginx or Docker's own docker-ce count.
present() {
    case "$1" in
        postgresql) _command initdb || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ;;
        python3-venv) [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import ensurepip, venv' 2>/dev/null ;;
        ca-certificates) [ -s /etc/ssl/certs/ca-certificates.crt ] ;;
        docker.io) _command dockerd && _command docker ;;
        busybox-static) [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 ;;
        systemd) _command systemd-analyze ;;
        pebble) _command pebble && _command pebble-challtestsrv ;;
        python3) [ -x /usr/bin/python3 ] ;;
        docker-compose) _command docker-compose || docker compose version >/dev/null 2>&1 ;;
        python3-dev) [ -e "$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_path("include"))' 2>/dev/null)/Python.h" ] ;;
        libpq-dev) [ -e /usr/include/postgresql/libpq-fe.h ] ;;
        *) _command "$1" ;;
    esac
}

# need_packages REQUIRED... [-- OPTIONAL...]: installs what is missing (root), or says
# what to install and exits 1 when something required is missing (anyone else).
need_packages() {
    local required=() optional=() missing=() missing_required=() optional_part=0 pkg
    for pkg in "$@"; do
        if [ "$pkg" = -- ]; then
            optional_part=1
        elif [ "$optional_part" = 1 ]; then
            optional+=("$pkg")
        else
            required+=("$pkg")
        fi
    done
    for pkg in "${required[@]}" "${optional[@]}"; do
        present "$pkg" || missing+=("$pkg")
    done
    for pkg in "${required[@]}"; do
        present "$pkg" || missing_required+=("$pkg")
    done
    [ "${#missing[@]}" = 0 ] && return 0
    if ! command -v apt-get >/dev/null; then
        say "this needs Debian or Ubuntu (apt-get); missing: ${missing[*]}"
        exit 1
    fi
    if [ "$(id -u)" = 0 ]; then
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${missing[@]}"
        for pkg in "${required[@]}"; do
            present "$pkg" || { say "$pkg is still missing after apt-get install"; exit 1; }
        done
    elif [ "${#missing_required[@]}" != 0 ]; then
        say "missing packages; install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}"
        exit 1
    else
        say "optional, what needs them is skipped: sudo apt-get install -y --no-install-recommends ${missing[*]}"
    fi
}

# need_uv: sets UV to a uv binary, installing uv first when there is none, and UV_PYTHON
# to the distribution's Python (what production runs) when it is new enough; otherwise
# (Ubuntu 22.04: 3.10) uv finds or fetches a Python 3.11 of its own.
need_uv() {
    if [ -z "${UV_PYTHON:-}" ] && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        export UV_PYTHON=/usr/bin/python3
    fi
    local venv="${XDG_DATA_HOME:-$HOME/.local/share}/deployd/uv-$UV_VERSION"
    local link="$HOME/.local/bin/uv"
    if UV="$(command -v uv)"; then
        return 0
    elif [ -x "$link" ]; then
        UV="$link"
        return 0
    fi
    if [ ! -x "$venv/bin/uv" ]; then
        say "installing uv $UV_VERSION from PyPI into $venv"
        python3 -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
    fi
    mkdir -p "$(dirname "$link")"
    ln -sfn "$venv/bin/uv" "$link"
    UV="$link"
    case ":$PATH:" in
        *":$HOME/.local/bin:"*) ;;
        *) say "uv is $link: put ~/.local/bin on your PATH for the README's \`uv run deployctl ...\` (Debian's ~/.profile does at your next login)" ;;
    esac
}

# need_dockerd: a Docker Engine answering, for the docker runtime's tests. Root starts one
# when none runs (docker.service under systemd, else a dockerd of its own, as in CI). One
# that cannot be had fails only under DEPLOYD_TEST_REQUIRE_ALL=1; else those tests skip.
need_dockerd() {
    local log="${TMPDIR:-/tmp}/deployd-dockerd.log" why _
    present docker.io || return 0
    docker info >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ]; then
        why="the Docker Engine does not answer you (not running, or you are not in the docker group)"
    elif [ -d /run/systemd/system ]; then
        say "starting docker.service"
        systemctl start docker.service || true
        docker info >/dev/null 2>&1 && return 0
        why="docker.service did not start (journalctl -u docker.service says why)"
    else
        say "starting dockerd (its log: $log)"
        nohup dockerd >"$log" 2>&1 &
        for _ in $(seq 60); do
            docker info >/dev/null 2>&1 && return 0
            sleep 0.5
        done
        tail "$log" >&2
        why="dockerd did not start (its log: $log)"
    fi
    if [ "${DEPLOYD_TEST_REQUIRE_ALL:-}" = 1 ]; then
        say "$why"
        exit 1
    fi
    say "$why: the tests that need it are skipped"
}
