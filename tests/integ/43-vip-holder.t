#!/usr/bin/env bash
# The holder decides (watchd down, so vipctl asks the database): a non-holder's `up` is
# refused with exit 3 and changes nothing; `status` says whether the VIP or the virtual
# hostname is where the holder is; `up --force` is recorded as an event.
source "$(dirname "$0")/../lib/common.sh"
source "$HS_TOP/tests/lib/pg.sh"
source "$HS_TOP/tests/lib/netns.sh"
source "$HS_TOP/tests/lib/named.sh"
need "$HS_BIN/vipctl" ip jq

netns_lan_setup a b
pg_start
named_start hs.test
psql_hs "$(cat "$HS_TOP/common/schema.sql")" >/dev/null || bail "schema did not apply"
psql_hs "INSERT INTO hs_cluster (cluster, holder, epoch, heartbeat) VALUES ('t43', 'b', 1, 5);
         INSERT INTO hs_node (cluster, node, address) VALUES ('t43', 'a', '192.0.2.1'), ('t43', 'b', '192.0.2.2');" >/dev/null
VIP=192.0.2.10
# Through the socket directory: a unix socket reaches the server from any namespace.
DB="host=$PG_SOCK port=$PG_PORT dbname=hs user=postgres"

# conf FILE NODE CONNECTION ADDRESS
conf() {
    cat >"$1" <<EOF
[cluster]
name = t43
node = $2
address = $4
run_dir = $T/run-$2
database = $DB
connection = $3
[vip]
address = $VIP
interface = eth0
[dns]
server = $NAMED_SERVER
zone = hs.test
hostname = app
tsig_name = $NAMED_KEY
tsig_secret_file = $NAMED_SECRET_FILE
EOF
}
conf "$T/a.conf" a vip 192.0.2.1
conf "$T/ha.conf" a hostname 192.0.2.1
conf "$T/hb.conf" b hostname 192.0.2.2
vipctl_a() { netns_exec a "$HS_BIN/vipctl" -c "$T/a.conf" "$@" 2>"$T/err"; }
holder() { psql_hs "UPDATE hs_cluster SET holder = '$1', epoch = epoch + 1 WHERE cluster = 't43'" >/dev/null; }
on_a() { ip -n "$(netns_ns a)" -o addr show dev eth0 | grep -c " $VIP/"; }
status_a() { vipctl_a status --json | jq -r "$1"; }

# --- a is not the holder ------------------------------------------------------------------
vipctl_a up
is $? 3 "up on a non-holder exits 3"
check "and says who the holder is" -- grep -q "refused: .*names b as holder" "$T/err"
is "$(on_a)" 0 "and the VIP was not added"
is "$(status_a '.address.ok')" true "status: VIP absent on a non-holder is as expected"
is "$(status_a '.address.present')" false "status: present = false"

# --- a becomes the holder -------------------------------------------------------------------
holder a
vipctl_a up
is $? 0 "up on the holder exits 0"
is "$(on_a)" 1 "ip addr shows the VIP on the holder"
is "$(status_a '"\(.address.present) \(.address.ok)"')" "true true" \
    "status: VIP present on the holder, as expected"

# --- a lost the cluster but still has the VIP: status must say so --------------------------
holder b
is "$(status_a '.address.ok')" false "status: the VIP on a node that is not the holder is reported"
vipctl_a status >"$T/table"
check "status table says WRONG" -- grep -q '^address .*WRONG' "$T/table"
vipctl_a down
is $? 0 "down is always allowed"
is "$(on_a)" 0 "the VIP is gone"

# --- --force overrides, and leaves a trace ---------------------------------------------------
vipctl_a up --force
is $? 0 "up --force on a non-holder exits 0"
is "$(on_a)" 1 "the VIP is there"
is "$(psql_hs "SELECT count(*) FROM hs_event WHERE cluster = 't43' AND node = 'a' AND kind = 'forced-up'")" 1 \
    "the forced up is recorded in hs_event"
vipctl_a down

# --- virtual hostname: status resolves the name at the server --------------------------------
holder a
"$HS_BIN/vipctl" -c "$T/ha.conf" up 2>"$T/err"
is $? 0 "hostname: up on the holder exits 0"
st() { "$HS_BIN/vipctl" -c "$T/ha.conf" status --json 2>/dev/null | jq -r "$1"; }
is "$(st '.address.records | join(",")')" 192.0.2.1 "hostname: status shows the record"
is "$(st '.address.points_at_holder')" true "hostname: status says the name points at the holder"
holder b
is "$(st '.address.points_at_holder')" false "hostname: after a takeover by b the name does not point at the holder yet"
"$HS_BIN/vipctl" -c "$T/ha.conf" up 2>"$T/err"
is $? 3 "hostname: up on the old holder is refused (exit 3)"
is "$(named_query app.hs.test A)" 192.0.2.1 "hostname: and the record was not touched"
"$HS_BIN/vipctl" -c "$T/hb.conf" up 2>"$T/err"
is $? 0 "hostname: b's up exits 0"
is "$(st '.address.points_at_holder')" true "hostname: now the name points at the holder b"
is "$(named_query app.hs.test A)" 192.0.2.2 "dig: the name is b's address"

# --- check (the active's periodic re-check) for a hostname ----------------------------------
"$HS_BIN/vipctl" -c "$T/hb.conf" check 2>"$T/err"
is $? 0 "hostname: check on the holder with the record in place exits 0"
is "$(wc -l <"$T/err")" 0 "hostname: and says nothing"
"$HS_BIN/vipctl" -c "$T/ha.conf" up --force 2>/dev/null    # someone points the name elsewhere
is "$(named_query app.hs.test A)" 192.0.2.1 "the name was pointed away from the holder"
"$HS_BIN/vipctl" -c "$T/ha.conf" check 2>"$T/err"
is $? 3 "hostname: check on a non-holder is refused (exit 3)"
"$HS_BIN/vipctl" -c "$T/hb.conf" check 2>"$T/err"
is $? 0 "hostname: check on the holder exits 0"
is "$(named_query app.hs.test A)" 192.0.2.2 "hostname: check pointed the name back at the holder"
check "and logged why" -- grep -q "does not point at 192.0.2.2" "$T/err"

done_testing
