/*
 * sql.h: the statements that more than one binary runs against the schema of
 * DESIGN §2, written once. Parameters are noted beside each.
 */
#ifndef HS_SQL_H
#define HS_SQL_H

/* $1 cluster */
#define SQL_CLUSTER_ENSURE \
    "INSERT INTO hs_cluster (cluster) VALUES ($1) ON CONFLICT (cluster) DO NOTHING"

/*
 * $1 cluster, $2 node, $3 liveness window (seconds), $4 our priority.
 * The row, our rank among the live standbys (priority, then name) and the best live
 * standby. Liveness compares seen_at with the database's own clock only.
 */
#define SQL_CLUSTER_READ \
    "SELECT c.holder, c.epoch, c.heartbeat, c.handoff_to, c.paused, " \
    " (SELECT count(*) FROM hs_node n WHERE n.cluster = c.cluster AND n.node <> $2 " \
    "   AND n.node IS DISTINCT FROM c.holder " \
    "   AND n.seen_at > clock_timestamp() - make_interval(secs => $3::float8) " \
    "   AND (n.priority > $4::int OR (n.priority = $4::int AND n.node < $2))), " \
    " (SELECT n.node FROM hs_node n WHERE n.cluster = c.cluster " \
    "   AND n.node IS DISTINCT FROM c.holder " \
    "   AND n.seen_at > clock_timestamp() - make_interval(secs => $3::float8) " \
    "   ORDER BY n.priority DESC, n.node LIMIT 1), " \
    " c.resume_requested, coalesce(c.interval_ms, -1), coalesce(c.takeover_timeout_ms, -1), " \
    " coalesce(c.fence_after_ms, -1), coalesce(c.stop_timeout_ms, -1) " \
    "FROM hs_cluster c WHERE c.cluster = $1"

/* $1 cluster, $2 node (holder, no longer acting), $3 epoch: commits a pending resume */
#define SQL_COMMIT_RESUME \
    "UPDATE hs_cluster SET paused = false, resume_requested = false " \
    "WHERE cluster = $1 AND holder = $2 AND epoch = $3 AND resume_requested RETURNING epoch"

/* $1 cluster, $2 interval_ms, $3 takeover_timeout_ms, $4 fence_after_ms, $5 stop_timeout_ms:
 * the first node to read a row without timing writes its own */
#define SQL_TIMING_INIT \
    "UPDATE hs_cluster SET interval_ms = $2, takeover_timeout_ms = $3, fence_after_ms = $4, " \
    " stop_timeout_ms = $5 WHERE cluster = $1 AND interval_ms IS NULL"

/* The same for `vipctl set-timing`: only while paused (no takeover, no fence meanwhile). */
#define SQL_SET_TIMING \
    "UPDATE hs_cluster SET interval_ms = $2, takeover_timeout_ms = $3, fence_after_ms = $4, " \
    " stop_timeout_ms = $5, changed_at = clock_timestamp() WHERE cluster = $1 AND paused " \
    "RETURNING epoch"

/* $1 cluster, $2 node, $3 observed epoch, $4 observed heartbeat, $5 version (DESIGN §2 CAS) */
#define SQL_CLAIM \
    "UPDATE hs_cluster SET holder = $2, epoch = epoch + 1, handoff_to = NULL, " \
    " active_version = $5, changed_at = clock_timestamp() " \
    "WHERE cluster = $1 AND epoch = $3 AND heartbeat = $4 AND NOT paused RETURNING epoch"

/* $1 cluster, $2 node (current holder), $3 target, $4 epoch */
#define SQL_HANDOFF \
    "UPDATE hs_cluster SET holder = $3, epoch = epoch + 1, handoff_to = NULL, " \
    " changed_at = clock_timestamp() " \
    "WHERE cluster = $1 AND holder = $2 AND epoch = $4 RETURNING epoch"

/*
 * $1 cluster, $2 holder, $3 epoch, $4 'true' to commit a pending resume (DESIGN §3: only
 * the active's own renewal ends a pause that an operator asked to end): heartbeatd's
 * guarded renewal (DESIGN §2); zero rows means someone else holds the cluster. It also announces itself on the cluster's own
 * channel (db_beat_channel: the prefix and the name, cut at PostgreSQL's 63 bytes; names
 * are ASCII), so a standby learns of each renewal at once instead of by polling; the
 * notification goes out when the renewal commits, and only to that cluster's listeners.
 * $5 'false' leaves the notification out: PostgreSQL wakes every listening session of the
 * database for every NOTIFY, whatever its channel, so with many clusters on one database
 * renewals notify nobody and standbys read once per interval (struct db_crowd).
 * The answer also carries what an operator may have asked of the active since (handoff_to,
 * paused, resume_requested, as SQL_CLUSTER_READ gives them): heartbeatd passes them on in
 * its "renewed" event, and the active's watchd reads the whole row when they differ from
 * its last read instead of once per interval (watchd/role.h role_read_due).
 */
#define SQL_BEAT_CHANNEL_PREFIX "hs_beat."
#define SQL_RENEW \
    "UPDATE hs_cluster SET heartbeat = heartbeat + 1, " \
    " paused = CASE WHEN $4::boolean AND resume_requested THEN false ELSE paused END, " \
    " resume_requested = resume_requested AND NOT $4::boolean " \
    "WHERE cluster = $1 AND holder = $2 AND epoch = $3 " \
    "RETURNING heartbeat, CASE WHEN $5::boolean THEN " \
    " pg_notify(left('" SQL_BEAT_CHANNEL_PREFIX "' || cluster, 63), cluster) END, " \
    " coalesce(handoff_to, ''), paused, resume_requested"

/*
 * The same three as the schema's functions, for database_pool_mode = transaction: behind
 * the pooler nothing can be prepared, and PL/pgSQL keeps the functions' plans per server
 * session (schema.sql). The answers are those of the statements above.
 */
#define SQL_RENEW_FN "SELECT * FROM hs_renew($1, $2, $3, $4, $5)"
#define SQL_NODE_SEEN_FN "SELECT hs_node_seen($1, $2, $3, $4, $5, $6, $7, $8)"
#define SQL_CLUSTER_READ_FN "SELECT * FROM hs_cluster_read($1, $2, $3, $4)"
/* The statement, or its function behind a transaction pooler (db.h's db_pool_transaction). */
#define SQL_POOLED(name) (db_pool_transaction() ? name##_FN : name)

/* How many clusters share the database (struct db_crowd), counted up to one more than
 * DB_CROWD_MAX_CLUSTERS (16): every session of every node counts every ten intervals, and a
 * full count reads every row (with 1000 clusters on the database, 400 counts of 1000 rows a
 * second). The same rule as the schema's hs_few_clusters(). */
#define SQL_CLUSTER_COUNT "SELECT count(*) FROM (SELECT 1 FROM hs_cluster LIMIT 17) s"

/*
 * $1 cluster, $2 node, $3 address, $4 priority, $5 version, $6 role, $7 state,
 * $8 config digest: heartbeatd's node row (liveness for ranks, switchover targets, peers
 * and status; common/db.c node_row says when it is written). Its transaction commits
 * without waiting for the WAL flush (synchronous_commit off for this transaction only,
 * the session stays on): the row decides nothing that a lost commit could make unsafe. A
 * server crash can lose at most the last few hundred milliseconds of node rows (the WAL
 * writer flushes them within 3 x wal_writer_delay, and every renewal's flush takes them
 * along), which makes a node look as old as its previous write until its reconnect
 * writes the row again (at once); it never makes a node look younger or a lease newer.
 * At 1000 clusters it halves the commits that wait for a flush (server CPU 95 -> 82 % of
 * a core, README Measured).
 */
#define SQL_NODE_SEEN \
    "WITH async AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)) " \
    "INSERT INTO hs_node (cluster, node, address, priority, version, role, state, beat, " \
    "seen_at, config_digest) SELECT $1, $2, $3, $4::int, $5, $6, $7, 1, clock_timestamp(), " \
    "$8 FROM async " \
    "ON CONFLICT (cluster, node) DO UPDATE SET address = $3, priority = $4, " \
    "version = $5, role = $6, state = $7, beat = hs_node.beat + 1, " \
    "seen_at = clock_timestamp(), config_digest = $8"

/* $1 cluster, $2 target node or '*' */
#define SQL_REQUEST_SWITCHOVER \
    "UPDATE hs_cluster SET handoff_to = $2 WHERE cluster = $1 AND holder IS NOT NULL " \
    " AND NOT paused RETURNING holder, epoch"

/* $1 cluster, $2 'true' / 'false' */
#define SQL_SET_PAUSED \
    "UPDATE hs_cluster SET paused = $2::boolean, resume_requested = false, " \
    " changed_at = clock_timestamp() WHERE cluster = $1 RETURNING epoch"

/*
 * $1 cluster, $2 unused. A resume of a cluster with a holder is only requested: the
 * holder's next renewal commits it (SQL_RENEW). Without a holder there is nobody to
 * learn of it: it applies at once.
 */
#define SQL_REQUEST_RESUME \
    "UPDATE hs_cluster SET resume_requested = paused AND holder IS NOT NULL, " \
    " paused = paused AND holder IS NOT NULL, changed_at = clock_timestamp() " \
    "WHERE cluster = $1 AND $2::text IS NOT NULL RETURNING epoch, paused"

/* $1 cluster, $2 node, $3 epoch, $4 kind, $5 detail, $6 wall clock of the node (ms) */
#define SQL_EVENT \
    "INSERT INTO hs_event (cluster, node, epoch, kind, detail, at) " \
    "VALUES ($1, $2, $3, $4, $5, to_timestamp($6::float8 / 1000))"
/* The same with $7 = a key of the writer's: sent again after a lost reply, it lands once. */
#define SQL_EVENT_ONCE \
    "INSERT INTO hs_event (cluster, node, epoch, kind, detail, at, event_key) " \
    "VALUES ($1, $2, $3, $4, $5, to_timestamp($6::float8 / 1000), $7) " \
    "ON CONFLICT (event_key) DO NOTHING"

#endif
