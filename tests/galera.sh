#!/usr/bin/env bash
# A real 3-node MariaDB Galera cluster on loopback for the Galera tests (tests/cli/galera.rs).
#
#   tests/galera.sh start    start the cluster (idempotent: running nodes are kept, a dead node is
#                            started again and rejoins), wait until every node is Synced in a cluster
#                            of 3, print the three URLs, one a line
#   tests/galera.sh stop     stop every node
#   tests/galera.sh status   each node's cluster size and state
#   tests/galera.sh urls     the three URLs (what `start` prints last)
#
# Everything lives under target/galera/node{1,2,3} (datadir, socket, tmpdir, log, config). Ports:
# SQL 4406-4408, group communication 45671-45673, IST 45681-45683, SST 45691-45693, so nothing
# collides with the system server on 3306 (its datadir, socket and tmpdir are never touched).
# Nodes run as user mysql (rsync SST drops privileges to it). Needs galera-4 and rsync (apt).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
base="${DBM_GALERA_DIR:-$root/target/galera}"
provider=/usr/lib/galera/libgalera_smm.so
nodes=(1 2 3)

sql_port() { echo $((4405 + $1)); }
gcomm_port() { echo $((45670 + $1)); }
dir() { echo "$base/node$1"; }
sock() { echo "$(dir "$1")/mysqld.sock"; }
url() { echo "mysql://root@127.0.0.1:$(sql_port "$1")"; }
cluster_address() { echo "gcomm://127.0.0.1:$(gcomm_port 1),127.0.0.1:$(gcomm_port 2),127.0.0.1:$(gcomm_port 3)"; }

q() { # q NODE SQL: one value, empty when the node does not answer
    mariadb --no-defaults -S "$(sock "$1")" -u root -N -B -e "$2" 2>/dev/null | awk '{print $NF}' || true
}
up() { mariadb-admin --no-defaults -S "$(sock "$1")" -u root ping >/dev/null 2>&1; }
size() { q "$1" "SHOW GLOBAL STATUS LIKE 'wsrep_cluster_size'"; }
state() { q "$1" "SHOW GLOBAL STATUS LIKE 'wsrep_local_state_comment'"; }
pid_of() { cat "$(dir "$1")/mysqld.pid" 2>/dev/null || true; }
alive() { local p; p="$(pid_of "$1")"; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

write_config() {
    local n="$1" d
    d="$(dir "$n")"
    mkdir -p "$d/data" "$d/tmp"
    cat >"$d/my.cnf" <<EOF
[mysqld]
user=mysql
datadir=$d/data
tmpdir=$d/tmp
socket=$d/mysqld.sock
pid-file=$d/mysqld.pid
log-error=$d/error.log
bind-address=127.0.0.1
port=$(sql_port "$n")
skip-name-resolve
performance_schema=OFF
innodb_buffer_pool_size=48M
innodb_log_file_size=48M
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
wsrep_on=ON
wsrep_provider=$provider
wsrep_cluster_name=dbm_test
wsrep_cluster_address=$(cluster_address)
wsrep_node_name=node$n
wsrep_node_address=127.0.0.1:$(gcomm_port "$n")
wsrep_node_incoming_address=127.0.0.1:$(sql_port "$n")
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:$((45690 + n))
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$n");ist.recv_addr=127.0.0.1:$((45680 + n));gcache.size=32M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.inactive_check_period=PT1S;evs.keepalive_period=PT1S"
EOF
    chown -R mysql:mysql "$d"
}

launch() { # launch NODE [--wsrep-new-cluster]
    local n="$1"
    shift
    nohup /usr/sbin/mariadbd --defaults-file="$(dir "$n")/my.cnf" "$@" >>"$(dir "$n")/stdout.log" 2>&1 &
}

wait_for() { # wait_for SECONDS CONDITION...
    local limit="$1"
    shift
    local end=$((SECONDS + limit))
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.5
    done
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$(sql_port "$1")") 2>/dev/null; }
up_or_dead() { up "$1" || ! alive "$1"; }
synced_or_gone() { synced "$1" || ! kill -0 "$2" 2>/dev/null; } # NODE PID
synced() { up "$1" && [ "$(state "$1")" = Synced ]; }
all_synced() { for n in "${nodes[@]}"; do synced "$n" && [ "$(size "$n")" = 3 ] || return 1; done; }

fail() {
    echo "galera.sh: $1" >&2
    for n in "${nodes[@]}"; do
        [ -f "$(dir "$n")/error.log" ] && { echo "--- node$n error.log (last lines)" >&2; tail -n 15 "$(dir "$n")/error.log" >&2; }
    done
    exit 1
}

start() {
    [ -f "$provider" ] || fail "$provider is missing: apt-get install galera-4 rsync"
    command -v rsync >/dev/null || fail "rsync is missing (the nodes' state transfer uses it): apt-get install rsync"
    if all_synced; then urls; return; fi
    local running=()
    for n in "${nodes[@]}"; do up "$n" && running+=("$n"); done
    if [ ${#running[@]} -eq 0 ]; then
        # No node answers: start a fresh cluster (test data only). Stray processes first.
        for n in "${nodes[@]}"; do alive "$n" && kill -9 "$(pid_of "$n")" 2>/dev/null || true; done
        for n in "${nodes[@]}"; do
            port_free "$n" || fail "port $(sql_port "$n") is in use by another server (another checkout's cluster? stop it with that checkout's tests/galera.sh stop)"
        done
        rm -rf "$base"
        for n in "${nodes[@]}"; do write_config "$n"; done
        # One system database, made on node 1; nodes 2 and 3 receive it by state transfer.
        mariadb-install-db --defaults-file="$(dir 1)/my.cnf" --auth-root-authentication-method=normal \
            --skip-test-db >"$(dir 1)/install.log" 2>&1 || fail "mariadb-install-db failed: $(tail -n 5 "$(dir 1)/install.log")"
        launch 1 --wsrep-new-cluster
        wait_for 60 synced 1 || fail "node 1 did not bootstrap"
        running=(1)
    fi
    for n in "${nodes[@]}"; do
        up "$n" && continue
        # A node still starting (or still dying after kill -9): wait until it answers or is gone.
        alive "$n" && { wait_for 60 up_or_dead "$n" || fail "node $n runs but does not answer"; }
        up "$n" && continue
        port_free "$n" || fail "port $(sql_port "$n") is in use by another server (another checkout's cluster? stop it with that checkout's tests/galera.sh stop)"
        # One joiner at a time: two state transfers at once can leave one of them waiting for a
        # state it never gets, and that node aborts ("Will never receive state"). A joiner that
        # dies anyway (a slow machine) gets a second start.
        local try
        for try in 1 2; do
            write_config "$n"
            rm -f "$(dir "$n")/mysqld.sock" "$(dir "$n")/mysqld.pid"
            launch "$n"
            local pid=$!
            wait_for 120 synced_or_gone "$n" "$pid"
            synced "$n" && break
            kill -0 "$pid" 2>/dev/null && break # still joining: the wait below gives it more time
            echo "galera.sh: node $n stopped while joining; starting it again" >&2
        done
    done
    wait_for 120 all_synced || fail "the cluster did not reach 3 Synced nodes"
    urls
}

stop() {
    for n in "${nodes[@]}"; do
        alive "$n" && kill "$(pid_of "$n")" 2>/dev/null || true
    done
    for n in "${nodes[@]}"; do
        wait_for 60 bash -c "! kill -0 $(pid_of "$n" || echo 0) 2>/dev/null" || kill -9 "$(pid_of "$n")" 2>/dev/null || true
    done
}

status() {
    for n in "${nodes[@]}"; do
        if up "$n"; then
            echo "node$n $(url "$n") cluster_size=$(size "$n") state=$(state "$n") pid=$(pid_of "$n")"
        else
            echo "node$n $(url "$n") down"
        fi
    done
}

urls() { for n in "${nodes[@]}"; do url "$n"; done; }

case "${1:-}" in
start) start ;;
stop) stop ;;
status) status ;;
urls) urls ;;
*) echo "usage: tests/galera.sh start|stop|status|urls" >&2; exit 2 ;;
esac
