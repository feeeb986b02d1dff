#!/bin/bash
# Build a real OAR 2.5 batch scheduler on this machine, for execo_g5k's tests.
#
# Why: execo_g5k drives OAR through its command-line tools (oarsub, oarstat,
# oardel, the job key on the nodes' sshd); only the real scheduler tells
# whether we parse its outputs right. Debian packages OAR 2.5.9, so we
# install it, point it at loopback and make it look like a Grid5000 site.
#
# What it builds (idempotent: a second run only checks, then smoke-tests):
#   - PostgreSQL + the OAR database, the OAR server (Almighty);
#   - 6 nodes, aliases of 127.0.0.1 in /etc/hosts, on two clusters:
#       griffon-1 griffon-2 griffon-3     (property cluster=griffon)
#       graphene-1 graphene-2 graphene-3  (property cluster=graphene)
#     each one OAR resource with properties cluster, host, deploy=YES, so
#     `oarsub -l /cluster=2/nodes=2` and `-p "cluster='griffon'"` work;
#   - the node-side sshd (/etc/oar/sshd_config, port 6667) on 127.0.0.1 only;
#   - admission rule #16 accepting Grid5000's job types (origin=..., night...);
#   - an ordinary submitting user ($EXECO_OAR_USER, default g5kuser: root
#     and oar may not submit) with a job key pair ~/.ssh/oar_job_key{,.pub},
#     exempt from the 2-waiting-reservations cap of admission rule #12.
# Then it submits two jobs as that user, waits for them to run, checks that
# the job key lands inside the job, and deletes them.
#
# Output contract (parsed by tests/oar/oar_fixture.py), always the last line:
#   OAR_TESTBED=ready user=<name> nodes=<n1,...> clusters=<c:n1+n2;...> key=<job key>  exit 0
#   OAR_TESTBED=unavailable reason=<text>    exit 0 (not Debian, not root)
#   OAR_TESTBED=failed reason=<text>         exit 1 (diagnostics printed before)
#
# How a test uses it (as root, what the fixture does):
#   bash tests/oar/setup_oar_testbed.sh        # last line: OAR_TESTBED=ready ...
#   U=g5kuser                                  # from the ready line
#   runuser -u $U -- bash -lc 'cd && oarsub -k -i ~/.ssh/oar_job_key \
#       -t origin=execo -l /cluster=2/nodes=2,walltime=0:10:00 "sleep 600"'
#       # -> prints OAR_JOB_ID=<id>
#   runuser -u $U -- bash -lc 'oarstat -fj <id>'   # until "state = Running"
#   runuser -u $U -- bash -lc 'oarstat -J -fj <id>' # JSON: assigned_network_address...
#   # inside the job through the job key (what default_oarsh_oarcp_params does):
#   runuser -u $U -- ssh -p 6667 -l oar -i ~$U/.ssh/oar_job_key \
#       -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
#       -o BatchMode=yes griffon-1 'echo $OAR_JOB_ID'   # -> <id>
#   runuser -u $U -- bash -lc 'oardel <id>'
#   (OAR_JOB_KEY_FILE=~/.ssh/oar_job_key oarsh griffon-1 ... works as well.)
#
# Environment: EXECO_OAR_USER (default g5kuser), OAR_TESTBED_DEADLINE
# (seconds a smoke job may take to run, default 120).

set -u
export LANG=C LC_ALL=C DEBIAN_FRONTEND=noninteractive
exec </dev/null

OAR_USER="${EXECO_OAR_USER:-g5kuser}"
DEADLINE="${OAR_TESTBED_DEADLINE:-120}"
CLUSTERS="griffon graphene"
NODES_PER_CLUSTER=3
OAR_CONF=/etc/oar/oar.conf
SSHD_CONF=/etc/oar/sshd_config
SSHD_PIDFILE=/run/oar-node_sshd.pid
RULE_MARKER="execo test bed: Grid5000 job types"
PACKAGES="oar-server oar-server-pgsql oar-user oar-user-pgsql oar-node postgresql"

say() { echo "[oar-testbed] $*"; }

unavailable() {
    say "skipping: $1"
    echo "OAR_TESTBED=unavailable reason=$1"
    exit 0
}

diagnostics() {
    say "---- diagnostics ----"
    pg_lsclusters 2>&1
    say "Almighty pid: $(pgrep -o -u oar -x -f '/usr/bin/perl /usr/lib/oar/Almighty')"
    oarnodes -s 2>&1 | head -20
    oarstat 2>&1 | tail -10
    for j in ${SMOKE_JOBS:-}; do
        as_user "oarstat -fj $j" 2>&1 | grep -E '^Job_Id|state =|message =|events'
        f="$OAR_HOME/OAR.${SMOKE:-}.$j.stderr"
        [ -f "$f" ] && { say "$f:"; tail -5 "$f"; }
    done
    say "tail of /var/log/oar.log:"
    tail -25 /var/log/oar.log 2>&1
}

fail() {
    say "FAILED: $1"
    diagnostics
    echo "OAR_TESTBED=failed reason=$1"
    exit 1
}

all_nodes() {
    local c i
    for c in $CLUSTERS; do
        for i in $(seq 1 "$NODES_PER_CLUSTER"); do echo "$c-$i"; done
    done
}

as_user() { runuser -u "$OAR_USER" -- bash -lc "cd && $1"; }

# ---- 0. where we can run -------------------------------------------------
[ "$(id -u)" = 0 ] || unavailable "not root (the OAR test bed installs packages and daemons)"
. /etc/os-release 2>/dev/null
[ "${ID:-}" = debian ] && [ -f /etc/debian_version ] \
    || unavailable "not Debian (OAR comes from Debian packages)"
command -v apt-get >/dev/null || unavailable "no apt-get"

# ---- 1. packages -----------------------------------------------------------
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing$missing"
    log=/tmp/oar-testbed-apt.log
    # Try the package lists we have first; refresh them only if that fails.
    # shellcheck disable=SC2086
    if ! apt-get install -y -q $PACKAGES >"$log" 2>&1; then
        say "apt-get install failed, running apt-get update and retrying"
        apt-get update -qq >>"$log" 2>&1 || { tail -20 "$log"; fail "apt-get update failed"; }
        # shellcheck disable=SC2086
        apt-get install -y -q $PACKAGES >>"$log" 2>&1 || { tail -20 "$log"; fail "apt-get install failed"; }
    fi
fi

# ---- 2. PostgreSQL and the OAR database ------------------------------------
read -r PG_VER PG_NAME < <(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1, $2}')
if [ -z "${PG_VER:-}" ]; then
    PG_VER=$(ls /usr/lib/postgresql | sort -n | tail -1); PG_NAME=main
    pg_createcluster "$PG_VER" "$PG_NAME" >/dev/null || fail "pg_createcluster failed"
fi
if ! pg_ctlcluster "$PG_VER" "$PG_NAME" status >/dev/null 2>&1; then
    say "starting PostgreSQL $PG_VER/$PG_NAME"
    pg_ctlcluster "$PG_VER" "$PG_NAME" start || fail "PostgreSQL does not start"
fi

# Keep a password already set (the database was created with it); fill empty ones.
sed -i -e 's/^DB_BASE_PASSWD=""/DB_BASE_PASSWD="execo-oar-rw"/' \
       -e 's/^DB_BASE_PASSWD_RO=""/DB_BASE_PASSWD_RO="execo-oar-ro"/' "$OAR_CONF"
DB_NAME=$(sed -n 's/^DB_BASE_NAME="\(.*\)"/\1/p' "$OAR_CONF")
db_exists=$(runuser -u postgres -- psql -tAc \
    "SELECT 1 FROM pg_database WHERE datname='${DB_NAME:-oar}'" 2>/dev/null)
if [ "$db_exists" != 1 ]; then
    say "creating the OAR database"
    oar-database --create --db-is-local -y >/tmp/oar-testbed-db.log 2>&1 \
        || { cat /tmp/oar-testbed-db.log; fail "oar-database --create failed"; }
fi
oar-database --check >/dev/null 2>&1 || fail "OAR database not ready (oar-database --check)"

# ---- 3. nodes: /etc/hosts, resources, properties ---------------------------
add_hosts=""
for n in $(all_nodes); do
    awk -v n="$n" '$1 !~ /^#/ { for (i = 2; i <= NF; i++) if ($i == n) f = 1 } END { exit !f }' \
        /etc/hosts || add_hosts="$add_hosts $n"
done
# Append, never rewrite: /etc/hosts is often a bind mount that sed -i cannot replace.
[ -n "$add_hosts" ] && { say "adding to /etc/hosts:$add_hosts"; echo "127.0.0.1$add_hosts" >>/etc/hosts; }

for prop in cluster host; do
    oarproperty -l 2>/dev/null | grep -qx "$prop" || oarproperty -a "$prop" -c >/dev/null \
        || fail "oarproperty -a $prop failed"
done

resources=$(runuser -u postgres -- psql -d "${DB_NAME:-oar}" -tA -F'|' -c \
    "SELECT network_address, cluster, host, deploy, state FROM resources" 2>/dev/null)
for c in $CLUSTERS; do
    for i in $(seq 1 "$NODES_PER_CLUSTER"); do
        n="$c-$i"
        row=$(echo "$resources" | awk -F'|' -v n="$n" '$1 == n')
        if [ -z "$row" ]; then
            say "adding node $n"
            oarnodesetting -a -h "$n" -p "cluster=$c" -p "host=$n" -p deploy=YES >/dev/null \
                || fail "oarnodesetting -a -h $n failed"
        elif [ "$(echo "$row" | cut -d'|' -f1-4)" != "$n|$c|$n|YES" ]; then
            say "fixing properties of node $n"
            # A failing -p rolls back the others: set them one by one.
            for p in "cluster=$c" "host=$n" deploy=YES; do
                oarnodesetting -h "$n" -p "$p" >/dev/null || fail "oarnodesetting -h $n -p $p failed"
            done
        fi
    done
done

# ---- 4. node-side sshd, bound to loopback ----------------------------------
sshd_changed=0
if grep -q '^UsePrivilegeSeparation' "$SSHD_CONF"; then
    sed -i '/^UsePrivilegeSeparation/d' "$SSHD_CONF"; sshd_changed=1
fi
if ! grep -q '^ListenAddress 127.0.0.1$' "$SSHD_CONF"; then
    sed -i '/^ListenAddress/d' "$SSHD_CONF"
    echo "ListenAddress 127.0.0.1" >>"$SSHD_CONF"; sshd_changed=1
fi
# Own pid file (the init script's one), so we never mistake the system sshd for ours.
if ! grep -q "^PidFile $SSHD_PIDFILE\$" "$SSHD_CONF"; then
    sed -i '/^PidFile/d' "$SSHD_CONF"
    echo "PidFile $SSHD_PIDFILE" >>"$SSHD_CONF"; sshd_changed=1
fi
mkdir -p /run/sshd && chmod 0755 /run/sshd
/usr/sbin/sshd -t -f "$SSHD_CONF" || fail "invalid $SSHD_CONF"

sshd_pid() {
    local pid
    pid=$(cat "$SSHD_PIDFILE" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sshd ] && echo "$pid"
}
if pid=$(sshd_pid) && [ "$sshd_changed" = 1 ]; then
    say "restarting the node sshd (config changed)"
    kill "$pid"
    for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
fi
if ! sshd_pid >/dev/null; then
    say "starting the node sshd on 127.0.0.1:6667"
    /usr/sbin/sshd -f "$SSHD_CONF" || fail "node sshd does not start"
fi
for _ in $(seq 50); do
    (exec 3<>/dev/tcp/127.0.0.1/6667) 2>/dev/null && break
    sleep 0.1
done
(exec 3<>/dev/tcp/127.0.0.1/6667) 2>/dev/null || fail "node sshd not listening on 127.0.0.1:6667"

# ---- 5. OAR server -----------------------------------------------------------
# Almighty gates scheduler passes 5 s apart, and a submission landing inside
# that gate waits for its 10 s idle timeout: jobs submitted right after another
# job's end waited ~10 s. Tests submit back to back, so remove the gate.
conf_changed=0
if ! grep -q '^SCHEDULER_MIN_TIME_BETWEEN_2_CALLS="0"$' "$OAR_CONF"; then
    sed -i '/^SCHEDULER_MIN_TIME_BETWEEN_2_CALLS=/d' "$OAR_CONF"
    echo 'SCHEDULER_MIN_TIME_BETWEEN_2_CALLS="0"' >>"$OAR_CONF"; conf_changed=1
fi
# The init script's pid file holds a pid that exits at once (Almighty forks
# again), so its status/stop are wrong: find the daemon itself, the oldest one.
almighty_pid() { pgrep -o -u oar -x -f '/usr/bin/perl /usr/lib/oar/Almighty'; }
if pid=$(almighty_pid) && [ "$conf_changed" = 1 ]; then
    say "restarting the OAR server (oar.conf changed)"
    kill -TERM "$pid"
    for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
    [ -d "/proc/$pid" ] && fail "OAR server (pid $pid) does not stop"
fi
if ! almighty_pid >/dev/null; then
    say "starting the OAR server"
    /etc/init.d/oar-server start >/dev/null || fail "oar-server does not start"
    for _ in $(seq 50); do almighty_pid >/dev/null && break; sleep 0.1; done
    almighty_pid >/dev/null || fail "OAR server (Almighty) not running after start"
fi
# Nodes left Suspected (e.g. checked while sshd was down) never get jobs again.
for n in $(echo "$resources" | awk -F'|' '$5 != "" && $5 != "Alive" {print $1}'); do
    say "setting $n Alive"
    oarnodesetting -h "$n" -s Alive >/dev/null 2>&1 || fail "cannot set $n Alive"
done

# ---- 6. admission rule #16 accepts Grid5000 job types ------------------------
if ! oaradmissionrules -s 16 -f -H 2>/dev/null | grep -q "$RULE_MARKER"; then
    say "extending admission rule #16 with Grid5000 job types"
    rule=$(mktemp)
    oaradmissionrules -s 16 -f -H >"$rule" || fail "cannot read admission rule #16"
    grep -q '^my @types = ($' "$rule" || fail "admission rule #16 has an unexpected shape"
    awk -v m="$RULE_MARKER" '
        { print }
        /^my @types = \($/ {
            print "    # " m
            print "    qr/^allow_classic_ssh$/, qr/^day$/, qr/^night(?:=\\w+)?$/,"
            print "    qr/^destructive$/, qr/^exotic$/, qr/^origin=[\\w.:@-]+$/,"
            print "    qr/^monitor=.+$/, qr/^nfs=.+$/, qr/^besteffort_timeout=\\d+$/,"
        }' "$rule" >"$rule.new"
    oaradmissionrules -m 16 -r "$rule.new" >/dev/null || fail "cannot replace admission rule #16"
    rm -f "$rule" "$rule.new"
fi

# ---- 7. the submitting user and its job key ------------------------------------
id "$OAR_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$OAR_USER" || fail "useradd $OAR_USER failed"
# useradd leaves the account locked ('!'): sshd without PAM then refuses even
# key logins. '*' means "no password" without locking the account.
usermod -p '*' "$OAR_USER" || fail "usermod $OAR_USER failed"
OAR_HOME=$(getent passwd "$OAR_USER" | cut -d: -f6)
KEY="$OAR_HOME/.ssh/oar_job_key"
if [ ! -f "$KEY" ]; then
    runuser -u "$OAR_USER" -- bash -c "mkdir -p -m 700 ~/.ssh && ssh-keygen -q -t rsa -b 3072 -N '' -f '$KEY'" \
        || fail "ssh-keygen for $OAR_USER failed"
fi

# Stock rule #12 caps a user at 2 waiting advance reservations (counting ones
# just oardel'ed); the tests make more, so exempt the test user like its admin list says.
UNLIMITED=/var/lib/oar/unlimited_reservation.users
grep -qx "$OAR_USER" "$UNLIMITED" 2>/dev/null || echo "$OAR_USER" >>"$UNLIMITED"

# ---- 8. smoke test ---------------------------------------------------------------
submit() {  # echoes the job id
    local out
    out=$(as_user "oarsub $1" 2>&1)
    echo "$out" | sed -n 's/^OAR_JOB_ID=\([0-9][0-9]*\)$/\1/p'
    echo "$out" | grep -q '^OAR_JOB_ID=' || echo "$out" | sed 's/^/[oar-testbed]   oarsub: /' >&2
}
job_state() { as_user "oarstat -fj $1" 2>/dev/null | sed -n 's/^ *state = //p'; }
wait_running() {
    local end=$((SECONDS + DEADLINE)) s=""
    while [ $SECONDS -lt $end ]; do
        s=$(job_state "$1")
        case "$s" in
            Running) return 0 ;;
            Error|Terminated) say "job $1 is $s"; return 1 ;;
        esac
        sleep 1
    done
    say "job $1 still '$s' after ${DEADLINE}s"; return 1
}

SMOKE=execo-testbed-smoke
SMOKE_JOBS=""
delete_smoke_jobs() {
    [ -n "$SMOKE_JOBS" ] && as_user "oardel $SMOKE_JOBS" >/dev/null 2>&1
    SMOKE_JOBS=""
}
trap delete_smoke_jobs EXIT
# Jobs of a run killed mid-way would hold nodes until their walltime.
stale=$(as_user "oarstat -u $OAR_USER" 2>/dev/null | awk -v n="N=$SMOKE" 'index($0, n) {print $1}' | paste -sd' ')
[ -n "$stale" ] && { say "deleting stale smoke jobs $stale"; as_user "oardel $stale" >/dev/null 2>&1; }
rm -f "$OAR_HOME"/OAR."$SMOKE".*

t0=$SECONDS
j1=$(submit "-n $SMOKE -l nodes=1,walltime=0:05:00 'sleep 30'")
[ -n "$j1" ] || fail "oarsub as $OAR_USER printed no OAR_JOB_ID"
SMOKE_JOBS="$j1"
j2=$(submit "-n $SMOKE -t origin=execo -k -i $KEY -l /cluster=2/nodes=2,walltime=0:05:00 'sleep 120'")
[ -n "$j2" ] || fail "oarsub -t origin=execo -k -i KEY -l /cluster=2/nodes=2 rejected"
SMOKE_JOBS="$j1 $j2"
wait_running "$j1" || fail "job $j1 (nodes=1) did not reach Running"
wait_running "$j2" || fail "job $j2 (/cluster=2/nodes=2) did not reach Running"
say "jobs $j1 and $j2 Running after $((SECONDS - t0))s"

hosts=$(as_user "oarstat -fj $j2" | sed -n 's/^ *assigned_hostnames = //p')
first=${hosts%%+*}
inside=$(runuser -u "$OAR_USER" -- ssh -p 6667 -l oar -i "$KEY" -o BatchMode=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    "$first" 'echo $OAR_JOB_ID' 2>&1)
[ "$inside" = "$j2" ] || fail "ssh -p 6667 -l oar -i KEY $first gave '$inside', not job id $j2"
delete_smoke_jobs
# Leave the nodes free: a test submitting right after us must not wait for
# our jobs' epilogues and the scheduler's next pass.
for j in "$j1" "$j2"; do
    end=$((SECONDS + 60))
    while [ $SECONDS -lt $end ]; do
        case "$(job_state "$j")" in Error|Terminated) break ;; esac
        sleep 0.5
    done
done
rm -f "$OAR_HOME"/OAR."$SMOKE".*
say "job key ssh to $first landed in job $j2 (assigned: $hosts)"

nodes=$(all_nodes | paste -sd,)
clusters=$(for c in $CLUSTERS; do echo "$c:$(all_nodes | grep "^$c-" | paste -sd+)"; done | paste -sd';')
say "OAR $(dpkg-query -W -f='${Version}' oar-server) ready; submit as $OAR_USER, job key $KEY"
echo "OAR_TESTBED=ready user=$OAR_USER nodes=$nodes clusters=$clusters key=$KEY"
