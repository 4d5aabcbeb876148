#!/usr/bin/env bash
# Start, stop or show the real servers the tests talk to, all on 127.0.0.1 only:
#
#   dovecot     IMAP 10143, IMAPS 10993, LMTP 10024; any user name, password "secret", or
#               XOAUTH2/OAUTHBEARER with a token the oauth server issued for that user
#   oauth       10080 HTTP; tests/servers/oauth_server.py: POST /token issues a bearer token,
#               POST /introspect (RFC 7662) is what Dovecot's oauth2 passdb asks
#   smtp        10025 plain (AUTH optional), 10587 STARTTLS + AUTH, 10465 SMTPS + AUTH;
#               tests/servers/smtp_server.py, delivers into Dovecot over LMTP
#   postgresql  5432, Debian's cluster <version>/main, role backoffice/backoffice (CREATEDB);
#               admin URL postgresql+psycopg://backoffice:backoffice@127.0.0.1:5432/postgres
#
# Usage: scripts/servers.sh start|stop|restart|status
#
# State (private CA, server certificate, configs, logs, mail, pid files) lives in
# ${BACKOFFICE_SERVERS_DIR:-/tmp/backoffice-servers}; clients trust STATE/ca.pem.
# start is idempotent (servers already up are left alone; Dovecot is restarted when its
# generated config changed) and waits until every port answers. Needs root unless
# everything is already up; install the packages first with scripts/install-system.sh --test.
#
# Exit codes: 0 ok; 1 a server failed to start or stop; 2 usage; 3 status: something is
# down; 4 a package or tool is missing; 5 needs root.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${BACKOFFICE_SERVERS_DIR:-/tmp/backoffice-servers}
PYTHON=${BACKOFFICE_SERVERS_PYTHON:-$ROOT/.venv/bin/python}
WAIT_SECONDS=${BACKOFFICE_SERVERS_WAIT:-30}

HOST=127.0.0.1
IMAP_PORT=10143
IMAPS_PORT=10993
LMTP_PORT=10024
SMTP_PORT=10025
SUBMISSION_PORT=10587
SMTPS_PORT=10465
OAUTH_PORT=10080
PG_PORT=5432
PG_ROLE=backoffice
PG_PASSWORD=backoffice
ADMIN_URL="postgresql+psycopg://$PG_ROLE:$PG_PASSWORD@$HOST:$PG_PORT/postgres"

DOVECOT_DIR=$STATE/dovecot
DOVECOT_CONF=$DOVECOT_DIR/dovecot.conf
DOVECOT_LOG=$DOVECOT_DIR/dovecot.log
DOVECOT_PID=$DOVECOT_DIR/run/master.pid
SMTP_PID=$STATE/smtp.pid
SMTP_LOG=$STATE/smtp.log
STARTED_PID=
OAUTH_DIR=$STATE/oauth
OAUTH_PID=$STATE/oauth.pid
OAUTH_LOG=$STATE/oauth.log
# The client Dovecot authenticates as when it asks the oauth server about a token.
OAUTH_CLIENT=dovecot

say() { echo "servers.sh: $*"; }
die() {
    local code=$1
    shift
    echo "servers.sh: $*" >&2
    exit "$code"
}

usage() {
    # The comment block at the top, up to the first line of code.
    sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
}

port_open() {
    # Loopback connects are answered (or refused) at once, no timeout needed.
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

all_open() {
    local port
    for port in "$@"; do
        port_open "$port" || return 1
    done
}

pid_alive() {
    local file=$1 pid
    [[ -s $file ]] || return 1
    pid=$(head -n1 "$file")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# wait_ports NAME LOGFILE PID PORT...: wait until every port answers. When the server
# process PID (may be empty) dies, or after WAIT_SECONDS, show its log, stop it, fail.
wait_ports() {
    local name=$1 logfile=$2 pid=$3
    shift 3
    local deadline=$((SECONDS + WAIT_SECONDS)) problem=""
    until all_open "$@"; do
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            problem="exited before opening ports $*"
        elif ((SECONDS >= deadline)); then
            problem="did not open ports $* within ${WAIT_SECONDS}s"
        fi
        if [[ -n $problem ]]; then
            if [[ -n $pid ]]; then
                kill "$pid" 2>/dev/null || true
            fi
            echo "servers.sh: $name $problem" >&2
            if [[ -f $logfile ]]; then
                echo "----- last lines of $logfile -----" >&2
                tail -n 30 "$logfile" >&2
                echo "-----" >&2
            fi
            exit 1
        fi
        sleep 0.2
    done
}

wait_closed() {
    local deadline=$((SECONDS + WAIT_SECONDS)) port
    for port in "$@"; do
        while port_open "$port"; do
            ((SECONDS < deadline)) || return 1
            sleep 0.2
        done
    done
}

pg_version() {
    if [[ -n ${PG_VERSION:-} ]]; then
        echo "$PG_VERSION"
        return
    fi
    local binary versions=()
    for binary in /usr/lib/postgresql/*/bin/postgres; do
        [[ -x $binary ]] && versions+=("$(basename "$(dirname "$(dirname "$binary")")")")
    done
    ((${#versions[@]})) || return 1
    printf '%s\n' "${versions[@]}" | sort -V | tail -n1
}

check_installed() {
    local missing=() tool
    for tool in dovecot doveadm openssl pg_ctlcluster pg_createcluster pg_lsclusters psql; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    [[ -x /usr/lib/dovecot/imap ]] || missing+=("dovecot-imapd")
    [[ -x /usr/lib/dovecot/lmtp ]] || missing+=("dovecot-lmtpd")
    pg_version >/dev/null || missing+=("postgresql")
    if ((${#missing[@]})); then
        die 4 "not installed: ${missing[*]}; run: sudo $ROOT/scripts/install-system.sh --test"
    fi
    if ! "$PYTHON" -c 'import aiosmtpd' 2>/dev/null; then
        die 4 "$PYTHON cannot import aiosmtpd; run: .venv/bin/pip install -e '.[dev]'"
    fi
}

# ---------------------------------------------------------------- TLS ------------------
ensure_certs() {
    if [[ -s $STATE/ca.pem && -s $STATE/server.pem && -s $STATE/server.key ]]; then
        return
    fi
    say "creating a private CA and a server certificate for 127.0.0.1/localhost"
    local tmp
    tmp=$(mktemp -d "$STATE/.certs.XXXXXX")
    cat >"$tmp/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
CN = Backoffice test CA
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
    cat >"$tmp/server.ext" <<'EOF'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
EOF
    openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 -config "$tmp/ca.cnf" \
        -keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -sha256 -subj "/CN=localhost" \
        -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
    openssl x509 -req -sha256 -days 825 -in "$tmp/server.csr" -CA "$tmp/ca.pem" \
        -CAkey "$tmp/ca.key" -CAcreateserial -extfile "$tmp/server.ext" \
        -out "$tmp/server.pem" 2>/dev/null
    chmod 600 "$tmp/ca.key" "$tmp/server.key"
    chmod 644 "$tmp/ca.pem" "$tmp/server.pem"
    mv "$tmp/ca.key" "$tmp/server.key" "$tmp/server.pem" "$STATE/"
    mv "$tmp/ca.pem" "$STATE/ca.pem" # last: its presence means the set is complete
    rm -rf "$tmp"
}

# ---------------------------------------------------------------- Dovecot --------------
# write_dovecot_conf FILE: the config as it should be, into FILE. The oauth2 passdb's own
# file holds the introspection client's secret: written in place, root:dovecot 640.
write_dovecot_conf() {
    local file=$1 uid
    uid=$(id -u dovecot)
    mkdir -p "$DOVECOT_DIR/state" "$DOVECOT_DIR/mail"
    chown dovecot:dovecot "$DOVECOT_DIR/mail"
    chmod 750 "$DOVECOT_DIR/mail"
    (
        umask 027
        cat >"$DOVECOT_DIR/oauth2.conf.ext.tmp" <<EOF
# Generated by scripts/servers.sh: Dovecot asks tests/servers/oauth_server.py (RFC 7662).
introspection_mode = post
introspection_url = http://$OAUTH_CLIENT:$(cat "$OAUTH_DIR/client-secret")@$HOST:$OAUTH_PORT/introspect
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
EOF
    )
    chown root:dovecot "$DOVECOT_DIR/oauth2.conf.ext.tmp"
    mv "$DOVECOT_DIR/oauth2.conf.ext.tmp" "$DOVECOT_DIR/oauth2.conf.ext"
    cat >"$file" <<EOF
# Generated by scripts/servers.sh: a private Dovecot for the tests, loopback only.
instance_name = backoffice-test
protocols = imap lmtp
listen = $HOST
base_dir = $DOVECOT_DIR/run
state_dir = $DOVECOT_DIR/state
log_path = $DOVECOT_LOG
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = $uid

ssl = yes
ssl_cert = <$STATE/server.pem
ssl_key = <$STATE/server.key
ssl_dh = </usr/share/dovecot/dh.pem

disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
# Each passdb answers only its own mechanisms: the shared password never works as a token
# and a token never works as a password. A token is valid when the oauth server's
# introspection says it is active and issued for the user name the client logged in as.
passdb {
  driver = static
  args = password=secret
  mechanisms = plain login
}
passdb {
  driver = oauth2
  args = $DOVECOT_DIR/oauth2.conf.ext
  mechanisms = xoauth2 oauthbearer
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$DOVECOT_DIR/mail/%u allow_all_users=yes
}

mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
  mailbox Processed {
    auto = subscribe
  }
}

service imap-login {
  inet_listener imap {
    address = $HOST
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = $HOST
    port = $IMAPS_PORT
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = $HOST
    port = $LMTP_PORT
  }
}
protocol imap {
  mail_max_userip_connections = 200
}
protocol lmtp {
  postmaster_address = postmaster@example.test
}
# Tests log in with wrong passwords and tokens on purpose, all from 127.0.0.1: without
# this, anvil's auth penalty would delay every later failed login (of every test) up to 15 s.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
    if [[ ! -s /usr/share/dovecot/dh.pem ]]; then
        sed -i '/^ssl_dh = /d' "$file"
    fi
}

dovecot_ports=("$IMAP_PORT" "$IMAPS_PORT" "$LMTP_PORT")

start_dovecot() {
    write_dovecot_conf "$DOVECOT_CONF.new"
    if pid_alive "$DOVECOT_PID"; then
        if ! all_open "${dovecot_ports[@]}"; then
            say "dovecot is running but not answering; restarting it"
            stop_dovecot
        elif ! cmp -s "$DOVECOT_CONF.new" "$DOVECOT_CONF"; then
            # A reload would keep the old anvil settings: restart (once, after an upgrade).
            say "dovecot's config changed; restarting it"
            stop_dovecot
        else
            rm -f "$DOVECOT_CONF.new"
            return
        fi
    fi
    mv "$DOVECOT_CONF.new" "$DOVECOT_CONF"
    say "starting dovecot"
    # Dovecot's daemon keeps the start command's stdout/stderr: send them to a file, not
    # to a pipe someone waits on.
    if ! dovecot -c "$DOVECOT_CONF" </dev/null >"$DOVECOT_DIR/start.out" 2>&1; then
        cat "$DOVECOT_DIR/start.out" >&2
        [[ -f $DOVECOT_LOG ]] && tail -n 20 "$DOVECOT_LOG" >&2
        die 1 "dovecot failed to start"
    fi
    wait_ports dovecot "$DOVECOT_LOG" "" "${dovecot_ports[@]}"
}

stop_dovecot() {
    pid_alive "$DOVECOT_PID" || return 0
    say "stopping dovecot"
    if [[ -f $DOVECOT_CONF ]]; then
        doveadm -c "$DOVECOT_CONF" stop 2>/dev/null || kill "$(head -n1 "$DOVECOT_PID")"
    else
        kill "$(head -n1 "$DOVECOT_PID")"
    fi
    local deadline=$((SECONDS + WAIT_SECONDS))
    while pid_alive "$DOVECOT_PID"; do
        ((SECONDS < deadline)) || die 1 "dovecot did not stop"
        sleep 0.2
    done
}

# ---------------------------------------------------------------- SMTP -----------------
smtp_ports=("$SMTP_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT")

# start_python PID_FILE LOG_FILE SCRIPT [ARG...]: start tests/servers/SCRIPT in the
# background (--state, --pid-file, --host given); its pid in STARTED_PID and PID_FILE.
start_python() {
    local pid_file=$1 log_file=$2 script=$3
    shift 3
    # setsid + redirections: the server outlives this script and holds none of its pipes.
    setsid "$PYTHON" "$ROOT/tests/servers/$script" --state "$STATE" --pid-file "$pid_file" \
        --host "$HOST" "$@" </dev/null >>"$log_file" 2>&1 &
    STARTED_PID=$!
    echo "$STARTED_PID" >"$pid_file" # the server rewrites it (same pid) once it listens
}

start_smtp() {
    if pid_alive "$SMTP_PID" && all_open "${smtp_ports[@]}"; then
        return
    fi
    pid_alive "$SMTP_PID" && stop_smtp
    say "starting the SMTP server"
    start_python "$SMTP_PID" "$SMTP_LOG" smtp_server.py --port "$SMTP_PORT" \
        --starttls-port "$SUBMISSION_PORT" --smtps-port "$SMTPS_PORT" \
        --lmtp-host "$HOST" --lmtp-port "$LMTP_PORT"
    wait_ports smtp "$SMTP_LOG" "$STARTED_PID" "${smtp_ports[@]}"
}

# stop_pid PID: SIGTERM, then SIGKILL after 10 s.
stop_pid() {
    local pid=$1 deadline=$((SECONDS + 10))
    kill "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            kill -9 "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
}

stop_smtp() {
    pid_alive "$SMTP_PID" || return 0
    say "stopping the SMTP server"
    stop_pid "$(head -n1 "$SMTP_PID")"
    rm -f "$SMTP_PID"
}

# ---------------------------------------------------------------- OAuth2 ---------------
ensure_oauth_secret() {
    mkdir -p "$OAUTH_DIR"
    chmod 755 "$OAUTH_DIR"
    if [[ ! -s $OAUTH_DIR/client-secret ]]; then
        # A test secret: readable, so tests can play the resource server too.
        openssl rand -hex 24 >"$OAUTH_DIR/client-secret.tmp"
        chmod 644 "$OAUTH_DIR/client-secret.tmp"
        mv "$OAUTH_DIR/client-secret.tmp" "$OAUTH_DIR/client-secret"
    fi
}

start_oauth() {
    if pid_alive "$OAUTH_PID" && all_open "$OAUTH_PORT"; then
        return
    fi
    pid_alive "$OAUTH_PID" && stop_oauth
    say "starting the OAuth2 server"
    start_python "$OAUTH_PID" "$OAUTH_LOG" oauth_server.py --port "$OAUTH_PORT" \
        --client-id "$OAUTH_CLIENT"
    wait_ports oauth "$OAUTH_LOG" "$STARTED_PID" "$OAUTH_PORT"
}

stop_oauth() {
    pid_alive "$OAUTH_PID" || return 0
    say "stopping the OAuth2 server"
    stop_pid "$(head -n1 "$OAUTH_PID")"
    rm -f "$OAUTH_PID"
}

# ---------------------------------------------------------------- PostgreSQL -----------
pg_cluster_status() {
    # Prints "online", "down" or nothing when the cluster does not exist.
    pg_lsclusters -h 2>/dev/null | awk -v v="$1" '$1 == v && $2 == "main" { print $4 }'
}

start_postgres() {
    local version status port listen
    version=$(pg_version)
    status=$(pg_cluster_status "$version")
    if [[ -z $status ]]; then
        say "creating PostgreSQL cluster $version/main"
        pg_createcluster "$version" main --port "$PG_PORT" >/dev/null
        status=down
    fi
    port=$(pg_conftool -s "$version" main show port 2>/dev/null || echo "$PG_PORT")
    if [[ $port != "$PG_PORT" ]]; then
        say "moving cluster $version/main from port $port to $PG_PORT"
        pg_conftool "$version" main set port "$PG_PORT"
        [[ $status == online ]] && pg_ctlcluster "$version" main stop
        status=down
    fi
    listen=$(pg_conftool -s "$version" main show listen_addresses 2>/dev/null || true)
    if [[ -n $listen && $listen != *localhost* && $listen != *127.0.0.1* && $listen != "*" ]]; then
        pg_conftool "$version" main set listen_addresses localhost
        [[ $status == online ]] && pg_ctlcluster "$version" main stop
        status=down
    fi
    local hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! grep -Eq "^host[[:space:]]+all[[:space:]]+(all|$PG_ROLE)[[:space:]]+127\.0\.0\.1/32[[:space:]]+(scram-sha-256|md5)" "$hba"; then
        say "allowing password logins for $PG_ROLE on 127.0.0.1 in $hba"
        printf 'host all %s 127.0.0.1/32 scram-sha-256\n' "$PG_ROLE" >>"$hba"
        [[ $status == online ]] && pg_ctlcluster "$version" main reload
    fi
    if [[ $status != online ]]; then
        say "starting PostgreSQL $version/main"
        pg_ctlcluster "$version" main start
    fi
    wait_ports postgresql "/var/log/postgresql/postgresql-$version-main.log" "" "$PG_PORT"
    ensure_pg_role "$version"
}

ensure_pg_role() {
    local deadline=$((SECONDS + WAIT_SECONDS))
    # The port answers a moment before the server accepts logins.
    until (cd / && runuser -u postgres -- psql -p "$PG_PORT" -X -q -tAc 'select 1' >/dev/null 2>&1); do
        ((SECONDS < deadline)) || die 1 "PostgreSQL does not accept connections"
        sleep 0.2
    done
    (cd / && runuser -u postgres -- psql -p "$PG_PORT" -X -q -v ON_ERROR_STOP=1 -d postgres) <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') THEN
    CREATE ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_ROLE LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
-- DROP DATABASE ... WITH (FORCE) of a test database also ends the autovacuum worker that
-- may be on it; that process has no role, and only pg_signal_backend may signal it.
GRANT pg_signal_backend TO $PG_ROLE;
SQL
}

stop_postgres() {
    local version
    version=$(pg_version) || return 0
    if [[ $(pg_cluster_status "$version") == online ]]; then
        say "stopping PostgreSQL $version/main"
        pg_ctlcluster "$version" main stop
    fi
}

# ---------------------------------------------------------------- commands -------------
status_line() {
    local name=$1 state=up port parts=()
    shift
    for port in "$@"; do
        if port_open "${port#*:}"; then
            parts+=("$port")
        else
            parts+=("$port(down)")
            state=down
        fi
    done
    printf '%-11s %-5s %s %s\n' "$name" "$state" "$HOST" "${parts[*]}"
    [[ $state == up ]]
}

cmd_status() {
    local rc=0
    status_line dovecot "imap:$IMAP_PORT" "imaps:$IMAPS_PORT" "lmtp:$LMTP_PORT" || rc=3
    status_line smtp "smtp:$SMTP_PORT" "submission:$SUBMISSION_PORT" "smtps:$SMTPS_PORT" || rc=3
    status_line oauth "http:$OAUTH_PORT" || rc=3
    status_line postgresql "postgres:$PG_PORT" || rc=3
    printf '%-11s %s\n' state "$STATE (CA: $STATE/ca.pem)"
    printf '%-11s %s\n' pg-admin "$ADMIN_URL"
    return "$rc"
}

all_up() {
    [[ -s $STATE/ca.pem ]] &&
        all_open "${dovecot_ports[@]}" "${smtp_ports[@]}" "$OAUTH_PORT" "$PG_PORT"
}

need_root() {
    ((EUID == 0)) || die 5 "$1 needs root (Dovecot, PostgreSQL): sudo $0 $1"
}

# Serialise start/stop across concurrent callers (several pytest sessions at once):
# re-run this script under flock; -o keeps the lock out of the servers started here.
with_lock() {
    if [[ -z ${BACKOFFICE_SERVERS_LOCKED:-} ]]; then
        mkdir -p "$STATE"
        chmod 755 "$STATE"
        BACKOFFICE_SERVERS_LOCKED=1 exec flock -o "$STATE/.lock" "$0" "$@"
    fi
}

cmd_start() {
    if ((EUID != 0)) && all_up; then
        cmd_status
        return
    fi
    need_root start
    with_lock start
    check_installed
    ensure_certs
    ensure_oauth_secret
    start_oauth
    start_dovecot
    start_smtp
    start_postgres
    cmd_status
}

cmd_stop() {
    need_root stop
    with_lock stop
    stop_smtp
    stop_dovecot
    stop_oauth
    stop_postgres
    wait_closed "${smtp_ports[@]}" "${dovecot_ports[@]}" "$OAUTH_PORT" "$PG_PORT" ||
        die 1 "a port is still open"
    cmd_status || true
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    restart)
        "$0" stop
        exec "$0" start
        ;;
    status) cmd_status ;;
    -h | --help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
esac
