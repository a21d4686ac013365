#!/usr/bin/env bash
# zk-apache.sh — throwaway Apache ZooKeeper clusters for tests.
#
# Uses the Debian `zookeeper` package (jars under /usr/share/java) and plain
# `java`; nothing under /etc or /var is touched.
#
#   zk-apache.sh install            install the Debian package if missing
#   zk-apache.sh start N DIR        start N members (1 = standalone, 3/5 = ensemble)
#                                   under DIR; prints the connect string last
#   zk-apache.sh stop DIR           SIGTERM then SIGKILL every member (DIR is kept)
#   zk-apache.sh kill DIR I         SIGKILL member I (1-based)
#   zk-apache.sh restart DIR I      start member I again (same ports, config, data)
#   zk-apache.sh status DIR         one line per member: pid, ports, state, mode
#   zk-apache.sh 4lw DIR I WORD     send a four-letter word to member I
#
# Environment:
#   ZK_TICK_TIME      tickTime in ms (default 2000)
#   ZK_START_TIMEOUT  seconds to wait for members to serve (default 60)
#   ZK_JAVA_OPTS      extra JVM options appended to the defaults
#   ZK_JVM_OPTS       replaces the test-oriented heap/GC/JIT defaults (small heap, C1 only,
#                     for fast start); benchmarks set production-like options here
#   ZK_EXTRA_CONFIG   extra zoo.cfg lines (newline-separated) appended to each member's config
#   ZK_SECURE_CLIENT  if 1, each member also gets a secureClientPort on 127.0.0.1 (the TLS
#                     settings, ssl.* and serverCnxnFactory, come in ZK_EXTRA_CONFIG); the
#                     plain clientPort stays for four-letter words
#   ZK_OWNER_PID      if set, a watchdog SIGKILLs the cluster once that pid exits
#   ZK_SERVER_CMD     if set, each member runs "$ZK_SERVER_CMD zoo.cfg" instead of the JVM:
#                     the bundled zk-server, started from the very zoo.cfg and myid an
#                     Apache member gets (plus the equivalents of the JVM's -D flags as
#                     zoo.cfg keys; the -D words of ZK_JAVA_OPTS are passed as arguments);
#                     kill, restart, status and 4lw work the same
#
# DIR/cluster.env (shell-sourceable) records MEMBERS, CLIENT_PORTS, SECURE_CLIENT_PORTS,
# QUORUM_PORTS, ELECTION_PORTS, PIDS, WATCHDOG_PID and CONNECT_STRING.
# Member I lives in DIR/memberI/ (zoo.cfg, data/, zk.log, zk.pid).
set -euo pipefail

PROG=$(basename "$0")
JAVA_DIR=/usr/share/java
MAIN_CLASS=org.apache.zookeeper.server.quorum.QuorumPeerMain

# Jars needed by the server (the Class-Path of Debian's zookeeper.jar minus
# jline/jetty, which only the CLI and the disabled AdminServer use) plus an
# slf4j binding: without one slf4j falls back to NOP and the log stays empty.
JARS=(
    zookeeper zookeeper-jute
    slf4j-api slf4j-simple
    commons-cli commons-io
    jackson-annotations jackson-core jackson-databind
    metrics-core snappy-java
    netty-buffer netty-common netty-handler netty-resolver netty-codec
    netty-transport netty-transport-native-epoll netty-transport-native-unix-common
    findbugs-annotations
)

die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

is_int() { [[ $1 =~ ^[0-9]+$ ]]; }

# ---------------------------------------------------------------- install ---

jars_present() {
    [[ -f $JAVA_DIR/zookeeper.jar && -f $JAVA_DIR/zookeeper-jute.jar && -f $JAVA_DIR/slf4j-simple.jar ]]
}

cmd_install() {
    if jars_present && command -v java >/dev/null 2>&1; then
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || die "ZooKeeper jars missing and not root; run: apt-get install -y zookeeper"
    log "installing the Debian zookeeper package"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeper >&2
    jars_present || die "zookeeper installed but $JAVA_DIR/zookeeper.jar is still missing"
}

classpath() {
    local cp="" j
    for j in "${JARS[@]}"; do
        [[ -f $JAVA_DIR/$j.jar ]] || die "missing $JAVA_DIR/$j.jar (run: $PROG install)"
        cp+="${cp:+:}$JAVA_DIR/$j.jar"
    done
    printf '%s' "$cp"
}

# ------------------------------------------------------------------ ports ---

# Print COUNT distinct free loopback ports. All sockets are held open at the
# same time so the kernel cannot hand out the same port twice.
free_ports() {
    local count=$1
    if command -v python3 >/dev/null 2>&1; then
        python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "$count"
    else
        # Fallback: random high ports that nothing answers on.
        local ports=() p
        while ((${#ports[@]} < count)); do
            p=$((20000 + RANDOM % 12000))
            [[ " ${ports[*]} " == *" $p "* ]] && continue
            if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
                ports+=("$p")
            fi
        done
        echo "${ports[*]}"
    fi
}

# --------------------------------------------------------------- helpers ---

# four_letter PORT WORD: print the server's answer (empty on failure).
four_letter() {
    local port=$1 word=$2
    # shellcheck disable=SC2016  # $1/$2 expand in the inner shell
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "%s" "$2" >&3
        cat <&3
    ' _ "$port" "$word" 2>/dev/null || true
}

load_env() {
    local dir=$1
    [[ -f $dir/cluster.env ]] || die "$dir/cluster.env not found (was '$PROG start' run with this DIR?)"
    # shellcheck disable=SC1091
    source "$dir/cluster.env"
    CLUSTER_DIR=$(cd "$dir" && pwd)
    read -r -a CPORTS <<<"$CLIENT_PORTS"
    read -r -a QPORTS <<<"${QUORUM_PORTS:-}"
    read -r -a EPORTS <<<"${ELECTION_PORTS:-}"
    read -r -a SPORTS <<<"${SECURE_CLIENT_PORTS:-}"
    read -r -a PID_LIST <<<"$PIDS"
    ZK_SERVER_CMD=${SERVER_CMD:-}
}

# ours PID: true if PID is alive and still one of this cluster's processes: its command
# line names the cluster's directory (a member's zoo.cfg, or this script started on it).
# A recorded pid can be reused by an unrelated process once ours has exited (pids wrap at
# 32768 on many machines, and a test suite forks tens of thousands), so no signal goes to
# a pid that fails this check.
ours() {
    pid_alive "$1" || return 1
    [[ -n ${CLUSTER_DIR:-} ]] || return 0
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$CLUSTER_DIR"
}

check_member() {
    local i=$1
    is_int "$i" || die "member index must be a number, got '$i'"
    ((i >= 1 && i <= MEMBERS)) || die "member index $i out of range 1..$MEMBERS"
}

# pid_alive PID: true if the process exists and is not a finished zombie.
# An un-reaped zombie would look alive to `kill -0` forever (PID 1 in some
# containers never reaps), and a JVM's main thread turns zombie while its
# other threads (which still hold its sockets open) are being torn down.
pid_alive() {
    [[ -n $1 && $1 != 0 ]] || return 1
    kill -0 "$1" 2>/dev/null || return 1
    local stat tasks
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]] && return 0
    tasks=("/proc/$1/task/"*)
    ((${#tasks[@]} > 1))
}

write_env() {
    local dir=$1 connect="" i
    for i in "${!CPORTS[@]}"; do
        connect+="${connect:+,}127.0.0.1:${CPORTS[$i]}"
    done
    local tmp="$dir/cluster.env.tmp.$$"
    {
        echo "MEMBERS=$MEMBERS"
        echo "CLIENT_PORTS=\"${CPORTS[*]}\""
        echo "SECURE_CLIENT_PORTS=\"${SPORTS[*]:-}\""
        echo "QUORUM_PORTS=\"${QPORTS[*]:-}\""
        echo "ELECTION_PORTS=\"${EPORTS[*]:-}\""
        echo "PIDS=\"${PID_LIST[*]}\""
        echo "WATCHDOG_PID=${WATCHDOG_PID:-0}"
        echo "CONNECT_STRING=\"$connect\""
        echo "SERVER_CMD=\"${ZK_SERVER_CMD:-}\""
    } >"$tmp"
    mv -f "$tmp" "$dir/cluster.env"
}

write_config() {
    local dir=$1 i=$2 mdir="$1/member$2" j
    mkdir -p "$mdir/data"
    {
        echo "tickTime=${ZK_TICK_TIME:-2000}"
        echo "initLimit=10"
        echo "syncLimit=5"
        echo "dataDir=$mdir/data"
        echo "clientPort=${CPORTS[$((i - 1))]}"
        echo "clientPortAddress=127.0.0.1"
        if ((${#SPORTS[@]} > 0)); then
            echo "secureClientPort=${SPORTS[$((i - 1))]}"
            echo "secureClientPortAddress=127.0.0.1"
        fi
        echo "maxClientCnxns=0"
        echo "admin.enableServer=false"
        echo "4lw.commands.whitelist=*"
        if [[ -n ${ZK_EXTRA_CONFIG:-} ]]; then
            printf '%s\n' "$ZK_EXTRA_CONFIG"
        fi
        if [[ -n ${ZK_SERVER_CMD:-} ]]; then
            # What the JVM gets as -D flags below (zk-server has TTL nodes on already).
            echo "znode.container.checkIntervalMs=1000"
            echo "cnxTimeout=1000"
        fi
        if ((MEMBERS == 1)); then
            echo "standaloneEnabled=true"
        else
            echo "standaloneEnabled=false"
            echo "reconfigEnabled=false"
            for ((j = 1; j <= MEMBERS; j++)); do
                echo "server.$j=127.0.0.1:${QPORTS[$((j - 1))]}:${EPORTS[$((j - 1))]}"
            done
        fi
    } >"$mdir/zoo.cfg"
    if ((MEMBERS > 1)); then
        echo "$i" >"$mdir/data/myid"
    fi
}

# launch_member DIR I: start the JVM (or $ZK_SERVER_CMD) in the background, set
# PID_LIST[I-1].
launch_member() {
    local dir=$1 i=$2 mdir="$1/member$2" cp
    if [[ -n ${ZK_SERVER_CMD:-} ]]; then
        {
            echo "==== $(date '+%F %T') starting member $i ($ZK_SERVER_CMD)"
            # The JVM's system properties (-Dkey=value) go to zk-server as they are.
            local props=() w
            for w in ${ZK_JAVA_OPTS:-}; do
                [[ $w == -D* ]] && props+=("$w")
            done
            RUST_LOG=${RUST_LOG:-info} NO_COLOR=1 exec $ZK_SERVER_CMD ${props[@]+"${props[@]}"} "$mdir/zoo.cfg"
        } </dev/null >>"$mdir/zk.log" 2>&1 &
        local pid=$!
        echo "$pid" >"$mdir/zk.pid"
        PID_LIST[i - 1]=$pid
        return
    fi
    cp=$(classpath)
    # shellcheck disable=SC2086
    {
        echo "==== $(date '+%F %T') starting member $i"
        exec java ${ZK_JVM_OPTS:--Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k} \
            -Dzookeeper.extendedTypesEnabled=true \
            -Dznode.container.checkIntervalMs=1000 \
            -Dzookeeper.admin.enableServer=false \
            -Dzookeeper.jmx.log4j.disable=true \
            -Dzookeeper.cnxTimeout=1000 \
            -Dorg.slf4j.simpleLogger.showDateTime=true \
            -Dorg.slf4j.simpleLogger.dateTimeFormat='yyyy-MM-dd HH:mm:ss,SSS' \
            ${ZK_JAVA_OPTS:-} \
            -cp "$cp" "$MAIN_CLASS" "$mdir/zoo.cfg"
    } </dev/null >>"$mdir/zk.log" 2>&1 &
    local pid=$!
    echo "$pid" >"$mdir/zk.pid"
    PID_LIST[i - 1]=$pid
}

# mode_of PORT: standalone/leader/follower/observer/read-only, or empty.
mode_of() {
    four_letter "$1" srvr | sed -n 's/^Mode: //p' | tr -d '\r'
}

member_serving() {
    local port=$1 mode
    [[ $(four_letter "$port" ruok) == imok ]] || return 1
    mode=$(mode_of "$port")
    [[ $mode == standalone || $mode == leader || $mode == follower ]]
}

dump_logs() {
    local dir=$1 i
    for ((i = 1; i <= MEMBERS; i++)); do
        echo "----- member $i: $dir/member$i/zk.log (tail) -----" >&2
        tail -n 40 "$dir/member$i/zk.log" >&2 2>/dev/null || true
    done
}

# wait_serving DIR I...: wait until each listed member serves. Returns 1 on
# timeout, 2 if a member's JVM died with a port clash, 3 if it died otherwise.
wait_serving() {
    local dir=$1
    shift
    local deadline=$((SECONDS + ${ZK_START_TIMEOUT:-60})) i pending
    while :; do
        pending=()
        for i in "$@"; do
            if ! pid_alive "${PID_LIST[$((i - 1))]}"; then
                log "member $i (pid ${PID_LIST[$((i - 1))]}) exited during startup"
                if grep -q 'Address already in use' "$dir/member$i/zk.log" 2>/dev/null; then
                    return 2
                fi
                return 3
            fi
            member_serving "${CPORTS[$((i - 1))]}" || pending+=("$i")
        done
        ((${#pending[@]} == 0)) && return 0
        ((SECONDS >= deadline)) && {
            log "timed out after ${ZK_START_TIMEOUT:-60}s waiting for member(s) ${pending[*]}"
            return 1
        }
        sleep 0.2
    done
}

kill_pids() {
    local sig=$1 p
    shift
    for p in "$@"; do
        if ours "$p"; then kill "-$sig" "$p" 2>/dev/null || true; fi
    done
}

stop_all() {
    local p deadline alive=()
    for p in "${PID_LIST[@]}"; do ours "$p" && alive+=("$p"); done
    if ((${#alive[@]} > 0)); then
        kill_pids TERM "${alive[@]}"
        deadline=$((SECONDS + 5))
        while ((SECONDS < deadline)); do
            local still=()
            for p in "${alive[@]}"; do ours "$p" && still+=("$p"); done
            ((${#still[@]} == 0)) && break
            sleep 0.1
        done
        kill_pids KILL "${alive[@]}"
    fi
    # Reap/settle: wait until the processes are really gone.
    for p in "${alive[@]}"; do
        while ours "$p"; do sleep 0.05; done
    done
}

start_watchdog() {
    local dir=$1 owner=$2
    # Kills whatever PIDS cluster.env names once the owner process is gone.
    (
        trap '' INT HUP
        # At a first start cluster.env appears a moment after this watchdog starts (it
        # records the watchdog's pid): wait for it, then watch the owner while it lasts.
        while pid_alive "$owner" && [[ ! -f $dir/cluster.env ]]; do
            sleep 0.1
        done
        while pid_alive "$owner" && [[ -f $dir/cluster.env ]]; do
            sleep 1
        done
        # Only the owner's death is a reason to kill. (A check of the file alone here,
        # with the loop above ending on a missing file, once killed new members the
        # instant cluster.env was written.)
        if ! pid_alive "$owner" && [[ -f $dir/cluster.env ]]; then
            # shellcheck disable=SC1091
            PIDS=$(source "$dir/cluster.env" && echo "$PIDS")
            CLUSTER_DIR=$dir
            for p in $PIDS; do
                if ours "$p"; then kill -9 "$p" 2>/dev/null || true; fi
            done
        fi
    ) </dev/null >/dev/null 2>&1 &
    WATCHDOG_PID=$!
}

# --------------------------------------------------------------- commands ---

cmd_start() {
    (($# == 2)) || usage
    MEMBERS=$1
    local dir=$2
    if ! is_int "$MEMBERS" || ((MEMBERS < 1)); then
        die "member count must be a positive number, got '$MEMBERS'"
    fi
    ((MEMBERS == 1 || MEMBERS % 2 == 1)) || log "warning: an even-sized ensemble ($MEMBERS) tolerates no more failures than $((MEMBERS - 1))"
    if [[ -n ${ZK_TICK_TIME:-} ]]; then
        is_int "$ZK_TICK_TIME" || die "ZK_TICK_TIME must be a number of milliseconds"
    fi
    if [[ -z ${ZK_SERVER_CMD:-} ]]; then
        command -v java >/dev/null 2>&1 || die "java not found (run: $PROG install)"
        classpath >/dev/null
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    CLUSTER_DIR=$dir
    if [[ -f $dir/cluster.env ]]; then
        load_env "$dir"
        for p in "${PID_LIST[@]}"; do
            ours "$p" && die "$dir already holds a running cluster (pid $p); stop it first"
        done
    fi

    local attempt rc=0 i per secure=0
    per=$((MEMBERS == 1 ? 1 : 3))
    [[ ${ZK_SECURE_CLIENT:-0} == 1 ]] && secure=1
    for attempt in 1 2 3; do
        local ports
        read -r -a ports <<<"$(free_ports $((MEMBERS * (per + secure))))"
        CPORTS=("${ports[@]:0:MEMBERS}")
        SPORTS=()
        if ((secure)); then
            SPORTS=("${ports[@]:MEMBERS*per:MEMBERS}")
        fi
        QPORTS=()
        EPORTS=()
        if ((MEMBERS > 1)); then
            QPORTS=("${ports[@]:MEMBERS:MEMBERS}")
            EPORTS=("${ports[@]:2*MEMBERS:MEMBERS}")
        fi
        PID_LIST=()
        WATCHDOG_PID=0
        for ((i = 1; i <= MEMBERS; i++)); do
            rm -rf "$dir/member$i"
            write_config "$dir" "$i"
            PID_LIST+=(0)
        done
        for ((i = 1; i <= MEMBERS; i++)); do
            launch_member "$dir" "$i"
        done
        if [[ -n ${ZK_OWNER_PID:-} ]]; then
            start_watchdog "$dir" "$ZK_OWNER_PID"
        fi
        write_env "$dir"

        rc=0
        wait_serving "$dir" $(seq 1 "$MEMBERS") || rc=$?
        ((rc == 0)) && break
        stop_all
        kill_pids KILL "$WATCHDOG_PID"
        if ((rc == 2 && attempt < 3)); then
            log "port clash, retrying with new ports (attempt $((attempt + 1)))"
            continue
        fi
        dump_logs "$dir"
        die "cluster of $MEMBERS failed to start (see $dir/member*/zk.log)"
    done

    # shellcheck disable=SC1091
    source "$dir/cluster.env"
    echo "$CONNECT_STRING"
}

cmd_stop() {
    (($# == 1)) || usage
    local dir=$1
    load_env "$dir"
    stop_all
    kill_pids KILL "${WATCHDOG_PID:-0}"
}

cmd_kill() {
    (($# == 2)) || usage
    local dir=$1 i=$2 pid
    load_env "$dir"
    check_member "$i"
    pid=${PID_LIST[$((i - 1))]}
    if ours "$pid"; then
        kill -KILL "$pid"
        while ours "$pid"; do sleep 0.05; done
    else
        log "member $i (pid $pid) was not running"
    fi
}

cmd_restart() {
    (($# == 2)) || usage
    local dir=$1 i=$2 rc=0
    load_env "$dir"
    check_member "$i"
    ours "${PID_LIST[$((i - 1))]}" && die "member $i is still running (pid ${PID_LIST[$((i - 1))]}); kill it first"
    [[ -f $dir/member$i/zoo.cfg ]] || die "$dir/member$i/zoo.cfg missing"
    launch_member "$dir" "$i"
    write_env "$dir"
    wait_serving "$dir" "$i" || rc=$?
    if ((rc != 0)); then
        tail -n 60 "$dir/member$i/zk.log" >&2 || true
        die "member $i failed to serve after restart"
    fi
}

cmd_status() {
    (($# == 1)) || usage
    local dir=$1 i pid state mode
    load_env "$dir"
    for ((i = 1; i <= MEMBERS; i++)); do
        pid=${PID_LIST[$((i - 1))]}
        if ours "$pid"; then state=running; else state=dead; fi
        mode=$(mode_of "${CPORTS[$((i - 1))]}")
        printf 'member %d pid=%s client=127.0.0.1:%s%s state=%s mode=%s\n' \
            "$i" "$pid" "${CPORTS[$((i - 1))]}" \
            "$( ((MEMBERS > 1)) && printf ' quorum=%s election=%s' "${QPORTS[$((i - 1))]}" "${EPORTS[$((i - 1))]}")" \
            "$state" "${mode:-none}"
    done
    echo "connect=$CONNECT_STRING"
}

cmd_4lw() {
    (($# == 3)) || usage
    local dir=$1 i=$2 word=$3
    load_env "$dir"
    check_member "$i"
    [[ ${#word} -eq 4 ]] || die "four-letter word must be 4 characters"
    four_letter "${CPORTS[$((i - 1))]}" "$word"
}

main() {
    (($# >= 1)) || usage
    local cmd=$1
    shift
    case $cmd in
        install) (($# == 0)) || usage; cmd_install ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        kill) cmd_kill "$@" ;;
        restart) cmd_restart "$@" ;;
        status) cmd_status "$@" ;;
        4lw) cmd_4lw "$@" ;;
        -h | --help | help) usage ;;
        *) log "unknown command '$cmd'"; usage ;;
    esac
}

main "$@"
