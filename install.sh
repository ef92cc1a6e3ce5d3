#!/usr/bin/env bash
# install.sh: install deployd on a Debian 12/13 or Ubuntu 22.04/24.04 server.
#
#   sudo ./install.sh [--with-docker] [--base-domain DOMAIN] [--source SPEC]
#   sudo ./install.sh --uninstall [--purge]
#
# Every step says what it does, in the terminal and in /var/log/deployd/install.log, and
# changes something only when it is not done yet: a second run on an installed host changes
# nothing and says so, and a run that was interrupted finishes on the next one.
#
# The layout is a contract (self-update relies on it):
#   /opt/deployd/versions/<version>   one virtualenv per installed version
#   /opt/deployd/current              -> versions/<version>, switched atomically
#   /usr/local/bin/deployd, deployctl -> /opt/deployd/current/bin/...
#   /etc/deployd/deployd.toml         settings (0600: it holds the database passwords)
set -euo pipefail
umask 022

PREFIX=/opt/deployd
VERSIONS="$PREFIX/versions"
CURRENT="$PREFIX/current"
BIN_DIR=/usr/local/bin
CONFIG_DIR=/etc/deployd
CONFIG="$CONFIG_DIR/deployd.toml"
LOG_DIR=/var/log/deployd
LOG="$LOG_DIR/install.log"
DATA_DIR=/var/lib/deployd
UNIT_DIR=/etc/systemd/system
NGINX_CONF_DIR=/etc/nginx/conf.d
GROUP=deployd
DB_NAME=deployd
DB_ROLE=deployd
APPS_ROLE=deployd_apps
ADMIN="admin"
MIN_RAM_MB=900
MIN_DISK_MB=3072
PACKAGES=(nginx postgresql git python3-venv certbot ca-certificates logrotate)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

WITH_DOCKER=0
UNINSTALL=0
PURGE=0
BASE_DOMAIN=""
SOURCE=""
CHANGED=0
PYTHON=/usr/bin/python3

usage() {
    cat <<EOF
Usage: sudo ./install.sh [OPTIONS]

Install deployd on this server (Debian 12/13, Ubuntu 22.04/24.04, systemd, root):
nginx, PostgreSQL, git, certbot and deployd itself, its database, its systemd unit,
and the first admin. Safe to run again: it does only what is not done yet.

Options:
  --with-docker          also install Docker (docker.io, with live-restore on), for apps
                         with a Dockerfile
  --base-domain DOMAIN   apps answer at <app>.DOMAIN (default: localhost); used only when
                         the config file is written, afterwards edit $CONFIG
  --source SPEC          what to install: a checkout directory or anything pip installs
                         (default: the checkout this script is in)
  --uninstall            remove deployd: its units, virtualenvs, commands and nginx files;
                         apps' data, the config (with the vault key) and databases are kept
  --purge                with --uninstall: also remove all data, the config, deployd's and
                         the apps' databases and roles, and the apps' accounts
  -h, --help             show this help

Everything is logged to $LOG.
EOF
}

die() {
    printf 'install.sh: error: %s\n' "$*" >&2
    exit 1
}

step() { printf '==> %s\n' "$*"; }
changed() {
    CHANGED=1
    printf '    %s\n' "$*"
}
ok() { printf '    ok: %s\n' "$*"; }

parse_args() {
    while [ "$#" -gt 0 ]; do
        case "$1" in
            --with-docker) WITH_DOCKER=1 ;;
            --uninstall) UNINSTALL=1 ;;
            --purge) PURGE=1 ;;
            --base-domain)
                [ "$#" -ge 2 ] || die "--base-domain needs a domain"
                BASE_DOMAIN="$2"
                shift
                ;;
            --base-domain=*) BASE_DOMAIN="${1#*=}" ;;
            --source)
                [ "$#" -ge 2 ] || die "--source needs a directory or a pip requirement"
                SOURCE="$2"
                shift
                ;;
            --source=*) SOURCE="${1#*=}" ;;
            -h | --help)
                usage
                exit 0
                ;;
            *)
                usage >&2
                printf '\ninstall.sh: error: unknown option %s\n' "$1" >&2
                exit 2
                ;;
        esac
        shift
    done
    if [ "$PURGE" = 1 ] && [ "$UNINSTALL" = 0 ]; then
        die "--purge goes with --uninstall"
    fi
    if [ -n "$BASE_DOMAIN" ] && ! [[ "$BASE_DOMAIN" =~ ^[a-z0-9]([a-z0-9.-]{0,200}[a-z0-9])?$ ]]; then
        die "--base-domain: not a domain name: $BASE_DOMAIN (lowercase letters, digits, . and -)"
    fi
    if [ -z "$SOURCE" ]; then
        SOURCE="$HERE"
    fi
    # a directory must be a checkout of deployd (piped from curl, this script has none)
    if [[ -d "$SOURCE" || "$SOURCE" == /* || "$SOURCE" == .* ]] && [ ! -f "$SOURCE/deployd/__init__.py" ]; then
        die "no deployd checkout at $SOURCE: run install.sh from a checkout, or say what to install with --source (a checkout, or a pip requirement such as deployd==0.1.0)"
    fi
}

# -- logging: everything to the terminal and the log; the admin's password only to the
# terminal (fd 3), never to the log
start_log() {
    mkdir -p "$LOG_DIR"
    chmod 0700 "$LOG_DIR"
    touch "$LOG"
    chmod 0600 "$LOG"
    exec 3>&1
    exec > >(tee -a "$LOG") 2>&1
    printf '\n== %s install.sh %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$*"
    trap 'on_error $LINENO' ERR
}

# shellcheck disable=SC2317  # called by the ERR trap
on_error() {
    printf 'install.sh: failed at line %s; see %s. Running install.sh again continues from where it stopped.\n' \
        "$1" "$LOG" >&2
}

# -- preflight: every check that fails says what to do; all are reported, then exit 1
FAILURES=()
fail_check() { FAILURES+=("$*"); }

check_os() {
    if [ ! -r /etc/os-release ]; then
        fail_check "unsupported system: /etc/os-release is missing (Debian 12/13 or Ubuntu 22.04/24.04 needed)"
        return
    fi
    local id version pretty
    # shellcheck disable=SC1091
    id="$(. /etc/os-release && printf '%s' "${ID:-}")"
    # shellcheck disable=SC1091
    version="$(. /etc/os-release && printf '%s' "${VERSION_ID:-}")"
    # shellcheck disable=SC1091
    pretty="$(. /etc/os-release && printf '%s' "${PRETTY_NAME:-$id $version}")"
    case "$id:$version" in
        debian:12 | debian:13 | ubuntu:22.04 | ubuntu:24.04) ok "system: $pretty" ;;
        *) fail_check "unsupported system: $pretty (Debian 12/13 or Ubuntu 22.04/24.04 needed)" ;;
    esac
}

check_systemd() {
    local init
    init="$(cat /proc/1/comm 2>&1 || true)"
    if [ "$init" = systemd ] && [ -d /run/systemd/system ]; then
        ok "systemd is PID 1"
    else
        fail_check "systemd is not PID 1 here (PID 1 is ${init:-unknown}): deployd runs as a systemd service; in a container, run \`deployd dev\` instead"
    fi
}

check_ram() {
    local kb
    kb="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
    if [ "$((kb / 1024))" -lt "$MIN_RAM_MB" ]; then
        fail_check "not enough memory: $((kb / 1024)) MB, at least $MIN_RAM_MB MB needed"
    else
        ok "memory: $((kb / 1024)) MB"
    fi
}

check_disk() {
    local dir free_mb
    for dir in /opt /var; do
        free_mb="$(df -Pm "$dir" | awk 'NR == 2 {print $4}')"
        if [ "$free_mb" -lt "$MIN_DISK_MB" ]; then
            fail_check "not enough disk space on $dir: $free_mb MB free, at least $MIN_DISK_MB MB needed"
        else
            ok "disk: $free_mb MB free on $dir"
        fi
    done
}

# The commands of the processes listening on a TCP port (from /proc: no ss/netstat needed).
port_holders() {
    local port="$1" hex inodes pid fd target
    hex="$(printf '%04X' "$port")"
    inodes="$(awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p {print $10}' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null | sort -u)"
    [ -n "$inodes" ] || return 0
    for pid in /proc/[0-9]*; do
        for fd in "$pid"/fd/*; do
            target="$(readlink "$fd" 2>/dev/null)" || continue
            case "$target" in
                socket:\[*\])
                    target="${target#socket:[}"
                    target="${target%]}"
                    if grep -qx "$target" <<<"$inodes"; then
                        cat "$pid/comm"
                        break
                    fi
                    ;;
            esac
        done
    done 2>/dev/null | sort -u
}

check_ports() {
    local port holders
    for port in 80 443; do
        holders="$(port_holders "$port")"
        if [ -z "$holders" ]; then
            ok "port $port is free"
        elif [ "$holders" = nginx ]; then
            ok "port $port is held by nginx"
        else
            fail_check "port $port is taken by $(tr '\n' ' ' <<<"$holders")(only nginx may hold it): stop that service first"
        fi
    done
}

check_hostname() {
    local name
    name="$(hostname)"
    if ! [[ "$name" =~ ^[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$ ]]; then
        fail_check "the hostname '$name' is not a valid host name: set one with hostnamectl set-hostname"
    elif ! getent hosts "$name" >/dev/null; then
        fail_check "the hostname '$name' does not resolve: add it to /etc/hosts (127.0.1.1 $name)"
    else
        ok "hostname: $name"
    fi
}

preflight() {
    step "preflight"
    [ "$(id -u)" = 0 ] || die "run as root: sudo $0 $*"
    check_os
    check_systemd
    check_ram
    check_disk
    check_ports
    check_hostname
    if [ "${#FAILURES[@]}" -gt 0 ]; then
        local failure
        for failure in "${FAILURES[@]}"; do
            printf 'install.sh: preflight: %s\n' "$failure" >&2
        done
        exit 1
    fi
}

# -- packages
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]; }

choose_python() {
    # deployd needs Python 3.11+: Debian 12/13 and Ubuntu 24.04 have it as python3, Ubuntu
    # 22.04 as python3.11 (universe).
    # shellcheck disable=SC1091
    if [ "$(. /etc/os-release && printf '%s' "$ID:$VERSION_ID")" = ubuntu:22.04 ]; then
        PACKAGES+=(python3.11 python3.11-venv)
        PYTHON=/usr/bin/python3.11
    fi
}

install_packages() {
    step "packages"
    choose_python
    local wanted=("${PACKAGES[@]}") missing=() pkg
    if [ "$WITH_DOCKER" = 1 ]; then
        wanted+=(docker.io)
    fi
    for pkg in "${wanted[@]}"; do
        installed "$pkg" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" = 0 ]; then
        ok "installed: ${wanted[*]}"
        return
    fi
    changed "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

configure_docker() {
    [ "$WITH_DOCKER" = 1 ] || return 0
    step "docker (live-restore: an engine restart keeps the containers running)"
    local file=/etc/docker/daemon.json result
    mkdir -p /etc/docker
    # Merge into an existing file rather than replace what an operator set there.
    result="$("$PYTHON" - "$file" <<'EOF'
import json, sys
path = sys.argv[1]
try:
    with open(path) as fh:
        config = json.load(fh)
except FileNotFoundError:
    config = {}
if config.get("live-restore") is True:
    print("unchanged")
else:
    config["live-restore"] = True
    with open(path + ".tmp", "w") as fh:
        json.dump(config, fh, indent=2)
        fh.write("\n")
    print("written")
EOF
    )"
    if [ "$result" = written ]; then
        mv -f "$file.tmp" "$file"
        changed "wrote live-restore into $file"
        systemctl enable docker
        systemctl reload-or-restart docker
    else
        ok "$file has live-restore"
    fi
    systemctl is-active --quiet docker || {
        changed "starting docker"
        systemctl enable --now docker
    }
}

ensure_group() {
    step "group $GROUP (its members may use deployctl)"
    if getent group "$GROUP" >/dev/null; then
        ok "group $GROUP exists"
    else
        groupadd --system "$GROUP"
        changed "created group $GROUP"
    fi
}

# -- deployd itself: one virtualenv per version
source_version() {
    if [ -f "$SOURCE/deployd/__init__.py" ]; then
        sed -n 's/^__version__ = "\([^"]*\)"$/\1/p' "$SOURCE/deployd/__init__.py"
        return
    fi
    # A requirement pip resolves: download the wheel once, its name says the version.
    local tmp wheel
    tmp="$(mktemp -d)"
    "$PYTHON" -m venv "$tmp/venv" >&2
    "$tmp/venv/bin/pip" download --quiet --no-deps --dest "$tmp" "$SOURCE" >&2
    for wheel in "$tmp"/deployd-*.whl; do
        basename "$wheel" | sed -n 's/^deployd-\([^-]*\)-.*/\1/p'
    done
    rm -rf "$tmp"
}

# Exact versions of the tested dependencies (uv.lock), when installing from a checkout.
constraints() {
    "$PYTHON" - "$SOURCE/uv.lock" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as fh:
    lock = tomllib.load(fh)
for package in lock.get("package", []):
    if package.get("source", {}).get("registry"):
        print(f"{package['name']}=={package['version']}")
EOF
}

install_deployd() {
    VERSION="$(source_version)"
    [[ "$VERSION" =~ ^[0-9A-Za-z.+-]+$ ]] || die "cannot tell the version of deployd in $SOURCE"
    local venv="$VERSIONS/$VERSION"
    step "deployd $VERSION in $venv"
    if [ -f "$venv/.installed" ]; then
        ok "deployd $VERSION is installed"
        return
    fi
    if [ -e "$venv" ]; then
        changed "removing the unfinished $venv of an interrupted run"
        rm -rf "$venv"
    fi
    mkdir -p "$VERSIONS"
    changed "creating the virtualenv"
    "$PYTHON" -m venv "$venv"
    local build target="$SOURCE"
    build="$(mktemp -d /tmp/deployd-install.XXXXXX)"
    if [ -d "$SOURCE" ]; then
        # pip builds in the source tree: build from a copy (the checkout may be read-only)
        tar -C "$SOURCE" --exclude=./.venv --exclude=./.git --exclude=./.deployd -c . |
            tar -C "$build" -x
        target="$build"
        constraints >"$build/.constraints.txt"
        changed "installing deployd $VERSION from $SOURCE (dependencies as in uv.lock)"
        "$venv/bin/pip" install --no-input --disable-pip-version-check --constraint \
            "$build/.constraints.txt" "$target"
    else
        changed "installing deployd $VERSION ($SOURCE)"
        "$venv/bin/pip" install --no-input --disable-pip-version-check "$target"
    fi
    rm -rf "$build"
    "$venv/bin/deployd" --version
    printf '%s\n' "$VERSION" >"$venv/.installed"
}

# ln -s to a temporary name, then rename over: the link is never missing or half-made.
switch_link() {
    local target="$1" link="$2"
    if [ "$(readlink "$link" 2>/dev/null || true)" = "$target" ]; then
        ok "$link -> $target"
        return 1
    fi
    ln -sfn "$target" "$link.new.$$"
    mv -T "$link.new.$$" "$link"
    changed "$link -> $target"
}

CURRENT_CHANGED=0
link_deployd() {
    step "commands"
    if switch_link "versions/$VERSION" "$CURRENT"; then
        CURRENT_CHANGED=1
    fi
    switch_link "$CURRENT/bin/deployd" "$BIN_DIR/deployd" || true
    switch_link "$CURRENT/bin/deployctl" "$BIN_DIR/deployctl" || true
}

# The installed package's own data: units and templates ship in the wheel.
data_dir() {
    "$CURRENT/bin/python" -c 'from deployd.config import resource_dir; print(resource_dir("units"))'
}

# -- configuration and the database
random_secret() { "$PYTHON" -c 'import secrets; print(secrets.token_hex(24))'; }

write_config() {
    step "configuration $CONFIG"
    mkdir -p "$CONFIG_DIR"
    chmod 0750 "$CONFIG_DIR"
    chgrp "$GROUP" "$CONFIG_DIR"
    if [ -f "$CONFIG" ]; then
        ok "$CONFIG exists (kept as it is)"
        return
    fi
    local tmp deployd_password apps_password
    deployd_password="$(random_secret)"
    apps_password="$(random_secret)"
    tmp="$(mktemp "$CONFIG_DIR/.deployd.toml.XXXXXX")"
    chmod 0600 "$tmp"
    {
        printf '# deployd settings (the fields of deployd.config.Settings; DEPLOYD_* variables\n'
        printf '# override them). Written by install.sh; it holds passwords: keep it 0600.\n'
        printf 'database_url = "postgresql://%s:%s@127.0.0.1:5432/%s"\n' "$DB_ROLE" "$deployd_password" "$DB_NAME"
        printf '# the apps'"'"' databases: an admin role that may create databases and roles\n'
        printf 'apps_database_url = "postgresql://%s:%s@127.0.0.1:5432/postgres"\n' "$APPS_ROLE" "$apps_password"
        if [ -n "$BASE_DOMAIN" ]; then
            printf 'base_domain = "%s"\n' "$BASE_DOMAIN"
        fi
    } >"$tmp"
    sync "$tmp"
    mv -T "$tmp" "$CONFIG"
    changed "wrote $CONFIG (0600)"
}

# A setting's value from the config file (the file is root's alone; never printed).
config_value() {
    "$PYTHON" - "$CONFIG" "$1" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as fh:
    print(tomllib.load(fh).get(sys.argv[2], ""))
EOF
}

# The password inside a postgresql:// URL.
url_password() {
    "$PYTHON" -c 'import sys, urllib.parse; print(urllib.parse.unquote(urllib.parse.urlsplit(sys.stdin.read().strip()).password or ""))'
}

as_postgres() { runuser -u postgres -- "$@"; }

psql_value() { as_postgres psql -X -q -t -A -v ON_ERROR_STOP=1 -d "${2:-postgres}" -c "$1"; }

# SQL through standard input: passwords never appear on a command line.
psql_stdin() { as_postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres; }

# Can `role` log in over TCP with `password`? (the password goes in a 0600 passfile)
can_login() {
    local role="$1" password="$2" passfile rc=0
    passfile="$(mktemp)"
    chmod 0600 "$passfile"
    printf '127.0.0.1:5432:*:%s:%s\n' "$role" "$password" >"$passfile"
    PGPASSFILE="$passfile" psql -X -q -t -A -h 127.0.0.1 -U "$role" -d postgres -w \
        -c "SELECT '    ok: $role logs in with the password in $CONFIG'" || rc=$?
    rm -f "$passfile"
    return "$rc"
}

ensure_role() {
    local role="$1" password="$2" options="$3"
    if [ "$(psql_value "SELECT count(*) FROM pg_roles WHERE rolname = '$role'")" = 0 ]; then
        printf "CREATE ROLE %s LOGIN %s PASSWORD '%s';\n" "$role" "$options" "$password" | psql_stdin
        changed "created role $role"
    elif ! can_login "$role" "$password"; then
        printf "ALTER ROLE %s LOGIN %s PASSWORD '%s';\n" "$role" "$options" "$password" | psql_stdin
        changed "set role $role's password to the one in $CONFIG"
    fi
}

setup_database() {
    step "PostgreSQL: deployd's database, and the role that makes the apps' databases"
    systemctl is-active --quiet postgresql || {
        changed "starting postgresql"
        systemctl enable --now postgresql
    }
    local password
    for _ in $(seq 60); do
        psql_value 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.5
    done
    password="$(config_value database_url | url_password)"
    [[ "$password" =~ ^[A-Za-z0-9._~-]+$ ]] || die "database_url in $CONFIG has no usable password"
    ensure_role "$DB_ROLE" "$password" "NOCREATEDB NOCREATEROLE"
    if [ "$(psql_value "SELECT count(*) FROM pg_database WHERE datname = '$DB_NAME'")" = 0 ]; then
        # UTF-8 whatever the cluster's default (a server whose locale is C made SQL_ASCII)
        printf "CREATE DATABASE %s OWNER %s TEMPLATE template0 ENCODING 'UTF8';\n" \
            "$DB_NAME" "$DB_ROLE" | psql_stdin
        changed "created database $DB_NAME"
    else
        ok "database $DB_NAME"
    fi
    password="$(config_value apps_database_url | url_password)"
    [[ "$password" =~ ^[A-Za-z0-9._~-]+$ ]] || die "apps_database_url in $CONFIG has no usable password"
    ensure_role "$APPS_ROLE" "$password" "CREATEDB CREATEROLE"
}

# -- nginx, units, logrotate
setup_nginx() {
    step "nginx (deployd writes its sites into $NGINX_CONF_DIR)"
    local default=/etc/nginx/sites-enabled/default
    if [ -e "$default" ] || [ -L "$default" ]; then
        rm -f "$default"
        changed "removed Debian's default site $default (deployd answers unknown hosts itself)"
    else
        ok "no default site"
    fi
    nginx -t
    if ! systemctl is-active --quiet nginx; then
        systemctl enable --now nginx
        changed "started nginx"
    elif [ "$CHANGED" = 1 ]; then
        systemctl reload nginx
    fi
}

install_file() {
    local source="$1" target="$2" mode="$3"
    if [ -f "$target" ] && cmp -s "$source" "$target"; then
        ok "$target"
        return 1
    fi
    install -m "$mode" "$source" "$target.new.$$"
    mv -T "$target.new.$$" "$target"
    changed "installed $target"
}

UNITS_CHANGED=0
install_units() {
    step "systemd units"
    local data unit
    data="$(dirname "$(data_dir)")"
    for unit in deployd.service deployd-web.service; do
        if install_file "$data/units/$unit" "$UNIT_DIR/$unit" 0644; then
            UNITS_CHANGED=1
        fi
    done
    if [ "$UNITS_CHANGED" = 1 ]; then
        systemctl daemon-reload
    fi
    install_file "$data/templates/logrotate/deployd" /etc/logrotate.d/deployd 0644 || true
}

# -- start, the first admin
start_deployd() {
    step "deployd"
    if ! systemctl is-enabled --quiet deployd; then
        systemctl enable deployd
        changed "enabled deployd.service"
    fi
    if ! systemctl is-active --quiet deployd; then
        changed "starting deployd (it makes the vault key at its first start)"
        systemctl start deployd
    elif [ "$UNITS_CHANGED" = 1 ] || [ "$CURRENT_CHANGED" = 1 ]; then
        # apps keep running: KillMode=process, the new daemon adopts them
        changed "restarting deployd (its unit or version changed; apps keep running)"
        systemctl restart deployd
    else
        ok "deployd is running"
    fi
    systemctl is-active --quiet deployd || die "deployd did not start: journalctl -u deployd"
    local key
    for key in "$CONFIG_DIR/secret.key" "$CONFIG_DIR/audit.key"; do
        [ -f "$key" ] || die "deployd started but $key is missing: journalctl -u deployd"
        [ "$(stat -c %a "$key")" = 600 ] || die "$key is not 0600"
    done
    ok "vault key $CONFIG_DIR/secret.key and audit key $CONFIG_DIR/audit.key (0600; back them up)"
    deployctl status >/dev/null || die "deployctl cannot reach the daemon: journalctl -u deployd"
}

ADMIN_PASSWORD=""
ensure_admin() {
    step "the first admin"
    local has_password
    has_password="$(psql_value "SELECT count(*) FROM users WHERE name = '$ADMIN' AND password_hash IS NOT NULL" "$DB_NAME")"
    if [ "$has_password" != 0 ]; then
        ok "admin $ADMIN has a password"
        return
    fi
    # The daemon made the built-in admin at its first start, without a password; this gives
    # it one. Its output holds the password: kept out of the log, shown once at the end.
    local said
    said="$(deployd admin create "$ADMIN")"
    ADMIN_PASSWORD="$(sed -n 's/.* with password \([^ ]*\) (shown once)$/\1/p' <<<"$said")"
    [ -n "$ADMIN_PASSWORD" ] || die "deployd admin create $ADMIN did not say the password"
    changed "created admin $ADMIN (the password is shown at the end, and is not in the log)"
}

finish() {
    if [ "$CHANGED" = 0 ]; then
        printf '\nnothing to do: deployd %s is installed and running\n' "$VERSION"
        return
    fi
    local domain
    domain="$(config_value base_domain)"
    cat <<EOF

deployd $VERSION is installed and running.
  sudo deployctl status                 the daemon, PostgreSQL, nginx, docker, systemd
  sudo usermod -aG $GROUP \$USER         let your account use deployctl (log in again)
  back up $CONFIG_DIR/secret.key and $CONFIG_DIR/audit.key: without them no secret can be read

Your first app:
  deployctl apps create hello --path /srv/hello     # or: --git https://.../repo.git
  deployctl deploy hello
  curl http://hello.${domain:-localhost}/
EOF
    if [ -n "$ADMIN_PASSWORD" ]; then
        # to the terminal only (fd 3), not through the log
        printf '\nThe admin %s'"'"'s password (for the web GUI and API tokens; shown once, not logged):\n  %s\n' \
            "$ADMIN" "$ADMIN_PASSWORD" >&3
    fi
}

install_all() {
    preflight "$@"
    install_packages
    configure_docker
    ensure_group
    install_deployd
    link_deployd
    write_config
    setup_database
    setup_nginx
    install_units
    start_deployd
    ensure_admin
    finish
}

# -- uninstall
stop_apps() {
    # Slot units are deployd's: stop and remove them (a reinstall starts the apps again).
    # They have no [Install] section, so nothing to disable (systemd 257, Debian 13, prints a
    # screenful of notice for each `systemctl disable` of such a unit).
    local unit
    for unit in "$UNIT_DIR"/deployd-*.service; do
        [ -e "$unit" ] || continue
        case "$(basename "$unit")" in deployd-web.service) continue ;; esac
        systemctl stop "$(basename "$unit")" || true
        rm -f "$unit"
        changed "removed $(basename "$unit")"
    done
    # Processes of the process runtime outlive the daemon (KillMode=process): end them.
    local cgroup
    cgroup="/sys/fs/cgroup$(systemctl show -p ControlGroup --value deployd.service 2>/dev/null || true)"
    if [ "$cgroup" != /sys/fs/cgroup ] && [ -f "$cgroup/cgroup.procs" ] && [ -s "$cgroup/cgroup.procs" ]; then
        xargs -r kill -TERM <"$cgroup/cgroup.procs" || true
        sleep 2
        xargs -r kill -KILL <"$cgroup/cgroup.procs" 2>/dev/null || true
        changed "stopped the apps' processes"
    fi
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        local containers
        containers="$(docker ps -aq --filter label=deployd.app)"
        if [ -n "$containers" ]; then
            # shellcheck disable=SC2086
            docker rm -f $containers
            changed "removed deployd's containers"
        fi
    fi
}

purge_databases() {
    systemctl is-active --quiet postgresql || return 0
    if [ "$(psql_value "SELECT count(*) FROM pg_database WHERE datname = '$DB_NAME'")" != 0 ]; then
        local name
        # app database names are checked by the table (^[a-z][a-z0-9-]*$): safe to quote
        for name in $(psql_value "SELECT name FROM databases" "$DB_NAME" 2>/dev/null || true); do
            [[ "$name" =~ ^[a-z][a-z0-9-]*$ ]] || continue
            printf 'DROP DATABASE IF EXISTS "%s" WITH (FORCE);\nDROP ROLE IF EXISTS "%s";\n' "$name" "$name" | psql_stdin
            changed "dropped the apps' database $name and its role"
        done
        printf 'DROP DATABASE %s WITH (FORCE);\n' "$DB_NAME" | psql_stdin
        changed "dropped database $DB_NAME"
    fi
    local role
    for role in "$DB_ROLE" "$APPS_ROLE"; do
        if [ "$(psql_value "SELECT count(*) FROM pg_roles WHERE rolname = '$role'")" != 0 ]; then
            printf 'DROP ROLE %s;\n' "$role" | psql_stdin
            changed "dropped role $role"
        fi
    done
}

uninstall() {
    [ "$(id -u)" = 0 ] || die "run as root: sudo $0 --uninstall"
    step "uninstall deployd$([ "$PURGE" = 1 ] && printf ' and purge its data')"
    local unit
    for unit in deployd-web.service deployd.service; do
        if [ -f "$UNIT_DIR/$unit" ]; then
            systemctl disable --now "$unit" || true
        fi
    done
    stop_apps
    for unit in deployd-web.service deployd.service; do
        if [ -f "$UNIT_DIR/$unit" ]; then
            rm -f "$UNIT_DIR/$unit"
            changed "removed $unit"
        fi
    done
    systemctl daemon-reload
    local file
    for file in "$NGINX_CONF_DIR"/00-deployd-baseline.conf "$NGINX_CONF_DIR"/deployd_baseline.conf \
        "$NGINX_CONF_DIR"/deployd-*.conf /etc/logrotate.d/deployd; do
        [ -e "$file" ] || continue
        rm -f "$file"
        changed "removed $file"
    done
    # Debian's default site, which the install took away, comes back
    if [ -f /etc/nginx/sites-available/default ] && [ -d /etc/nginx/sites-enabled ] &&
        [ ! -e /etc/nginx/sites-enabled/default ]; then
        ln -s /etc/nginx/sites-available/default /etc/nginx/sites-enabled/default
        changed "restored Debian's default nginx site"
    fi
    if command -v nginx >/dev/null && systemctl is-active --quiet nginx; then
        nginx -t && systemctl reload nginx
    fi
    for file in "$BIN_DIR/deployd" "$BIN_DIR/deployctl"; do
        if [ -L "$file" ]; then
            rm -f "$file"
            changed "removed $file"
        fi
    done
    if [ -e "$PREFIX" ]; then
        rm -rf "$PREFIX"
        changed "removed $PREFIX"
    fi
    if [ "$PURGE" = 1 ]; then
        purge_databases
        local account
        for account in $(getent passwd | awk -F: '$1 ~ /^deployd[-_]/ {print $1}'); do
            userdel "$account" && changed "removed the account $account"
        done
        for file in "$DATA_DIR" "$CONFIG_DIR" /run/deployd; do
            if [ -e "$file" ]; then
                rm -rf "$file"
                changed "removed $file"
            fi
        done
        if getent group "$GROUP" >/dev/null; then
            groupdel "$GROUP"
            changed "removed group $GROUP"
        fi
        printf 'deployd is removed with all its data (the log %s goes last)\n' "$LOG"
        rm -rf "$LOG_DIR"
        return
    fi
    printf '\ndeployd is removed. Kept: %s (config and vault key), %s (apps, builds), %s,\n' \
        "$CONFIG_DIR" "$DATA_DIR" "$LOG_DIR"
    printf "the databases and the accounts of the apps: install.sh brings them back; --uninstall --purge removes them.\n"
}

main() {
    parse_args "$@"
    if [ "$(id -u)" != 0 ]; then
        die "run as root: sudo $0 $*"
    fi
    start_log "$@"
    if [ "$UNINSTALL" = 1 ]; then
        uninstall
    else
        install_all "$@"
    fi
}

# One line, so bash has read all of it before anything runs: a script piped from curl that
# is cut short runs nothing, and one replaced while it runs (git pull) is not read on.
main "$@"; exit
