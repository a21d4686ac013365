#!/usr/bin/env bash
# krb5-kdc.sh — a throwaway MIT Kerberos realm on loopback for tests.
#
# Uses Debian's krb5-kdc (krb5kdc, kdb5_util, kadmin.local) and krb5-user (kinit); nothing
# under /etc is read or written: the realm's krb5.conf, kdc.conf, database, keytabs and
# credential cache all live under DIR, and the tools are pointed at them with KRB5_CONFIG
# and KRB5_KDC_PROFILE. No system-wide KDC needs to be running.
#
#   krb5-kdc.sh install        install the Debian packages if missing (also libkrb5-dev,
#                              libclang-dev and pkg-config: zk-client's `kerberos` feature
#                              binds libgssapi_krb5 with bindgen)
#   krb5-kdc.sh start DIR      create the realm under DIR, start its KDC on a free
#                              127.0.0.1 port (UDP and TCP) and print DIR/krb5.env
#   krb5-kdc.sh stop DIR       stop the KDC (DIR is kept)
#
# Environment:
#   KRB5_TEST_REALM   the realm (default ZKMESH.TEST)
#   KDC_OWNER_PID     if set, a watchdog kills the KDC once that pid exits
#
# The realm has:
#   zookeeper/localhost@REALM  the service, random key, in DIR/zookeeper.keytab
#   alice@REALM                a client, password "alice-pw", in DIR/alice.keytab
#   bob@REALM                  a client with a password ("bob-pw") and no keytab
# DIR/krb5.env (shell-sourceable) records KRB5_CONFIG, KRB5_KDC_PROFILE, KRB5CCNAME, REALM,
# KDC_PORT, KDC_PID, SERVICE_PRINCIPAL, SERVICE_KEYTAB, CLIENT_PRINCIPAL, CLIENT_KEYTAB.
set -euo pipefail

PROG=$(basename "$0")
die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }
usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

PACKAGES=(krb5-kdc krb5-admin-server krb5-user libkrb5-dev libclang-dev pkg-config)

tools_present() {
    command -v krb5kdc >/dev/null 2>&1 && command -v kdb5_util >/dev/null 2>&1 &&
        command -v kadmin.local >/dev/null 2>&1 && command -v kinit >/dev/null 2>&1 &&
        [[ -f /usr/include/gssapi/gssapi.h ]] && pkg-config --exists mit-krb5-gssapi 2>/dev/null &&
        compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null
}

cmd_install() {
    tools_present && return 0
    [[ $(id -u) -eq 0 ]] || die "Kerberos tools missing and not root; run: apt-get install -y ${PACKAGES[*]}"
    log "installing ${PACKAGES[*]}"
    apt-get update -qq >&2
    # krb5-config asks for a default realm; the tests never use /etc/krb5.conf.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}" >&2
    # Debian starts the system KDC services if it can; they are not ours and not needed.
    tools_present || die "packages installed but the Kerberos tools or headers are still missing"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cmd_start() {
    local dir=${1:?DIR}
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    [[ -f $dir/kdc.pid ]] && kill -0 "$(cat "$dir/kdc.pid")" 2>/dev/null &&
        die "a KDC already runs for $dir (pid $(cat "$dir/kdc.pid"))"
    local realm=${KRB5_TEST_REALM:-ZKMESH.TEST}
    local port
    port=$(free_port)
    cat >"$dir/krb5.conf" <<EOF
[libdefaults]
    default_realm = $realm
    dns_lookup_realm = false
    dns_lookup_kdc = false
    ticket_lifetime = 1h
    forwardable = false
    default_ccache_name = FILE:$dir/ccache
    default_client_keytab_name = FILE:$dir/client.keytab
[realms]
    $realm = {
        kdc = 127.0.0.1:$port
    }
[domain_realm]
    localhost = $realm
    .localhost = $realm
EOF
    cat >"$dir/kdc.conf" <<EOF
[kdcdefaults]
    kdc_listen = 127.0.0.1:$port
    kdc_tcp_listen = 127.0.0.1:$port
[realms]
    $realm = {
        database_name = $dir/principal
        key_stash_file = $dir/stash
        acl_file = $dir/kadm5.acl
        max_life = 1h
        max_renewable_life = 0
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }
[logging]
    kdc = FILE:$dir/kdc.log
    admin_server = FILE:$dir/kadmin.log
    default = FILE:$dir/krb5lib.log
EOF
    : >"$dir/kadm5.acl"
    export KRB5_CONFIG=$dir/krb5.conf KRB5_KDC_PROFILE=$dir/kdc.conf
    if [[ ! -f $dir/principal ]]; then
        kdb5_util create -s -r "$realm" -P "master-$$-$RANDOM" >"$dir/setup.log" 2>&1 ||
            die "kdb5_util create failed: $(tail -5 "$dir/setup.log")"
        {
            kadmin.local -r "$realm" -q "addprinc -randkey zookeeper/localhost@$realm"
            kadmin.local -r "$realm" -q "ktadd -k $dir/zookeeper.keytab zookeeper/localhost@$realm"
            kadmin.local -r "$realm" -q "addprinc -pw alice-pw alice@$realm"
            kadmin.local -r "$realm" -q "ktadd -k $dir/alice.keytab -norandkey alice@$realm"
            kadmin.local -r "$realm" -q "addprinc -pw bob-pw bob@$realm"
        } >>"$dir/setup.log" 2>&1 || die "kadmin.local failed: $(tail -5 "$dir/setup.log")"
        [[ -s $dir/zookeeper.keytab && -s $dir/alice.keytab ]] ||
            die "keytabs were not written: $(tail -5 "$dir/setup.log")"
    fi
    rm -f "$dir/kdc.pid"
    krb5kdc -r "$realm" -P "$dir/kdc.pid" >>"$dir/setup.log" 2>&1 ||
        die "krb5kdc failed: $(tail -5 "$dir/setup.log"; tail -5 "$dir/kdc.log" 2>/dev/null)"
    local i
    for ((i = 0; i < 100; i++)); do
        if [[ -s $dir/kdc.pid ]] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    ((i < 100)) || die "the KDC did not listen on 127.0.0.1:$port: $(tail -5 "$dir/kdc.log" 2>/dev/null)"
    local pid
    pid=$(cat "$dir/kdc.pid")
    if [[ -n ${KDC_OWNER_PID:-} ]]; then
        (
            while kill -0 "$KDC_OWNER_PID" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do sleep 1; done
            kill -9 "$pid" 2>/dev/null || true
        ) </dev/null >/dev/null 2>&1 &
        disown
    fi
    cat >"$dir/krb5.env" <<EOF
KRB5_CONFIG=$dir/krb5.conf
KRB5_KDC_PROFILE=$dir/kdc.conf
KRB5CCNAME=FILE:$dir/ccache
REALM=$realm
KDC_PORT=$port
KDC_PID=$pid
SERVICE_PRINCIPAL=zookeeper/localhost@$realm
SERVICE_KEYTAB=$dir/zookeeper.keytab
CLIENT_PRINCIPAL=alice@$realm
CLIENT_KEYTAB=$dir/alice.keytab
EOF
    cat "$dir/krb5.env"
}

cmd_stop() {
    local dir=${1:?DIR}
    [[ -f $dir/kdc.pid ]] || return 0
    local pid
    pid=$(cat "$dir/kdc.pid")
    if kill "$pid" 2>/dev/null; then
        local i
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/kdc.pid"
}

case ${1:-} in
    install) cmd_install ;;
    start) [[ $# -eq 2 ]] || usage; cmd_start "$2" ;;
    stop) [[ $# -eq 2 ]] || usage; cmd_stop "$2" ;;
    *) usage ;;
esac
