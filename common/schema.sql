-- hotstandby schema (DESIGN §2). Applied by watchd at start under pg_advisory_lock;
-- every statement is idempotent. A user without DDL rights applies this file by hand:
--   psql "$conninfo" -f common/schema.sql
SET client_min_messages = warning;   -- no "already exists, skipping" notices in the logs

CREATE TABLE IF NOT EXISTS hs_meta (
    schema_version int NOT NULL
);
INSERT INTO hs_meta (schema_version) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM hs_meta);

CREATE TABLE IF NOT EXISTS hs_cluster (
    cluster        text PRIMARY KEY,
    holder         text NULL,
    epoch          bigint NOT NULL DEFAULT 0,   -- fencing token: +1 on every change of holder
    heartbeat      bigint NOT NULL DEFAULT 0,   -- renewed by the holder's heartbeatd
    handoff_to     text NULL,
    paused         boolean NOT NULL DEFAULT false,
    active_version text NULL,
    changed_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE IF NOT EXISTS hs_node (
    cluster  text NOT NULL,
    node     text NOT NULL,
    address  text NOT NULL DEFAULT '',
    priority int NOT NULL DEFAULT 100,
    version  text NOT NULL DEFAULT '',
    role     text NOT NULL DEFAULT 'starting',
    state    text NOT NULL DEFAULT '',
    beat     bigint NOT NULL DEFAULT 0,
    seen_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (cluster, node)
);

CREATE TABLE IF NOT EXISTS hs_event (
    id      bigserial PRIMARY KEY,
    cluster text NOT NULL,
    node    text NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    epoch   bigint NOT NULL DEFAULT 0,
    kind    text NOT NULL,
    detail  text NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS hs_event_cluster_id ON hs_event (cluster, id);

-- Every change of the cluster row is announced, so standbys and the target of a
-- switchover learn of it without waiting for their next poll (not durable: they re-read).
CREATE OR REPLACE FUNCTION hs_cluster_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.holder IS DISTINCT FROM OLD.holder
       OR NEW.epoch <> OLD.epoch OR NEW.paused <> OLD.paused
       OR NEW.handoff_to IS DISTINCT FROM OLD.handoff_to THEN
        PERFORM pg_notify('hs_cluster', NEW.cluster);
    END IF;
    RETURN NEW;
END $$;
-- Created only when missing: dropping it would lock hs_cluster while nodes renew.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'hs_cluster_notify') THEN
        CREATE TRIGGER hs_cluster_notify AFTER INSERT OR UPDATE ON hs_cluster
            FOR EACH ROW EXECUTE FUNCTION hs_cluster_notify();
    END IF;
END $$;

-- Each node publishes the digest of its shared configuration (hotstandby.conf(5): every key
-- but the per-node ones), so that a node whose cluster settings differ from the active's
-- can be reported.
ALTER TABLE hs_node ADD COLUMN IF NOT EXISTS config_digest text NOT NULL DEFAULT '';

-- Self-monitoring (watchd/selfmon.c): the identity of the [shared] folder's filesystem as
-- each node sees it, so that the active can tell when they are not the same.
ALTER TABLE hs_node ADD COLUMN IF NOT EXISTS shared_fsid text NOT NULL DEFAULT '';

-- A resume is committed by the active's own renewal (DESIGN §3): `vipctl resume` only
-- asks for it, so no standby counts staleness against an active that has not learned
-- of the resume. The notify trigger also announces the request, so the active hears it.
-- (Each ALTER runs only when its column is missing: ALTER TABLE locks hs_cluster even
-- when IF NOT EXISTS finds the column, and nodes renew through it all the time.)
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'hs_cluster' AND column_name = 'resume_requested') THEN
        ALTER TABLE hs_cluster ADD COLUMN IF NOT EXISTS resume_requested boolean NOT NULL DEFAULT false;
    END IF;
END $$;
-- With more than 16 clusters on the database nobody listens (struct db_crowd in
-- common/db.h: every NOTIFY wakes every listening session of the database), so the
-- triggers announce nothing then: a transaction that notifies holds one lock of the whole
-- database through its commit, and the claims and registrations of hundreds of clusters
-- starting together queued behind each other for it. Nodes learn of changes by reading.
-- The 16 is common/db.h's DB_CROWD_MAX_CLUSTERS.
CREATE OR REPLACE FUNCTION hs_few_clusters() RETURNS boolean LANGUAGE sql STABLE AS
$$ SELECT count(*) <= 16 FROM (SELECT 1 FROM hs_cluster LIMIT 17) s $$;
CREATE OR REPLACE FUNCTION hs_cluster_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP = 'INSERT' OR NEW.holder IS DISTINCT FROM OLD.holder
        OR NEW.epoch <> OLD.epoch OR NEW.paused <> OLD.paused
        OR NEW.resume_requested <> OLD.resume_requested
        OR NEW.handoff_to IS DISTINCT FROM OLD.handoff_to) AND hs_few_clusters() THEN
        PERFORM pg_notify('hs_cluster', NEW.cluster);
    END IF;
    RETURN NEW;
END $$;

-- The cluster's timing is one fact (DESIGN §3): the first node writes its own, a node
-- whose file disagrees takes no part, and `vipctl set-timing` changes it (while paused).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'hs_cluster' AND column_name = 'stop_timeout_ms') THEN
        ALTER TABLE hs_cluster ADD COLUMN IF NOT EXISTS interval_ms bigint NULL;
        ALTER TABLE hs_cluster ADD COLUMN IF NOT EXISTS takeover_timeout_ms bigint NULL;
        ALTER TABLE hs_cluster ADD COLUMN IF NOT EXISTS fence_after_ms bigint NULL;
        ALTER TABLE hs_cluster ADD COLUMN IF NOT EXISTS stop_timeout_ms bigint NULL;
    END IF;
END $$;

-- Upgrades (DESIGN §8): the active publishes the checksums of the binaries it has installed
-- (hotstandby-clone publish, at the epoch it holds); a standby with auto = yes installs the
-- active's files only when each matches. manifest: {"version", "files": [{"name", "size",
-- "sha256"}]}. A table of its own: writing it never locks hs_cluster.
CREATE TABLE IF NOT EXISTS hs_release (
    cluster      text PRIMARY KEY,
    node         text NOT NULL,
    epoch        bigint NOT NULL,
    version      text NOT NULL,
    manifest     text NOT NULL,
    published_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- watchd re-sends an event whose reply was lost (the write may have committed): the
-- event's own key makes the second write a no-op. NULL (other writers) never conflicts.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'hs_event' AND column_name = 'event_key') THEN
        ALTER TABLE hs_event ADD COLUMN IF NOT EXISTS event_key text NULL;
        CREATE UNIQUE INDEX IF NOT EXISTS hs_event_key ON hs_event (event_key);
    END IF;
END $$;

-- syncd with [sync] peers empty pushes to the nodes in hs_node: a node registered, removed
-- (vipctl forget) or moved to another address is announced, so the active's syncd picks it
-- up at once rather than at its next periodic read. Renewals (seen_at) announce nothing.
CREATE OR REPLACE FUNCTION hs_node_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT hs_few_clusters() THEN
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('hs_node', OLD.cluster);
    ELSE
        PERFORM pg_notify('hs_node', NEW.cluster);
    END IF;
    RETURN NULL;
END $$;
-- Created only when missing (as hs_cluster_notify): nodes write hs_node all the time.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'hs_node_notify') THEN
        CREATE TRIGGER hs_node_notify AFTER INSERT OR DELETE ON hs_node
            FOR EACH ROW EXECUTE FUNCTION hs_node_notify();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'hs_node_notify_address') THEN
        CREATE TRIGGER hs_node_notify_address AFTER UPDATE OF address ON hs_node
            FOR EACH ROW WHEN (OLD.address IS DISTINCT FROM NEW.address)
            EXECUTE FUNCTION hs_node_notify();
    END IF;
END $$;

-- Behind a pooler in transaction mode (database_pool_mode = transaction) nothing can be
-- prepared, and parsing, analysing and planning the statements every node runs every
-- interval was over a third of the server's CPU with 1000 clusters (perf, bench-clusters).
-- So the three are also functions: PL/pgSQL keeps their plans per server session, which a
-- pooler keeps for long. Each is the statement of common/sql.h of the same name (SQL_RENEW,
-- SQL_NODE_SEEN, SQL_CLUSTER_READ), with the same answer; 34-database-pooler compares them.
-- hs_renew's answer gained the row's handoff_to, paused and resume_requested (schema 5); a
-- function's result columns cannot be replaced, so the older one goes first, in this
-- file's transaction (a node renewing meanwhile finds the old one or the new one).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'hs_renew'
               AND pronamespace = current_schema()::regnamespace
               AND NOT 'o_resume_requested' = ANY (proargnames)) THEN
        DROP FUNCTION hs_renew(text, text, bigint, boolean, boolean);
    END IF;
END $$;
CREATE OR REPLACE FUNCTION hs_renew(p_cluster text, p_holder text, p_epoch bigint,
                                    p_resume boolean, p_notify boolean)
RETURNS TABLE (o_heartbeat bigint, o_notified text, o_handoff_to text, o_paused boolean,
               o_resume_requested boolean) LANGUAGE plpgsql AS $$
BEGIN
    UPDATE hs_cluster c SET heartbeat = c.heartbeat + 1,
        paused = CASE WHEN p_resume AND c.resume_requested THEN false ELSE c.paused END,
        resume_requested = c.resume_requested AND NOT p_resume
    WHERE c.cluster = p_cluster AND c.holder = p_holder AND c.epoch = p_epoch
    RETURNING c.heartbeat, coalesce(c.handoff_to, ''), c.paused, c.resume_requested
    INTO o_heartbeat, o_handoff_to, o_paused, o_resume_requested;
    IF FOUND THEN
        IF p_notify THEN
            PERFORM pg_notify(left('hs_beat.' || p_cluster, 63), p_cluster);
            o_notified := '';
        END IF;
        RETURN NEXT;
    END IF;
END $$;
CREATE OR REPLACE FUNCTION hs_node_seen(p_cluster text, p_node text, p_address text,
    p_priority int, p_version text, p_role text, p_state text, p_digest text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- for this transaction only: the row is a liveness hint (common/sql.h SQL_NODE_SEEN)
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO hs_node AS n (cluster, node, address, priority, version, role, state, beat,
                              seen_at, config_digest)
    VALUES (p_cluster, p_node, p_address, p_priority, p_version, p_role, p_state, 1,
            clock_timestamp(), p_digest)
    ON CONFLICT (cluster, node) DO UPDATE SET address = p_address, priority = p_priority,
        version = p_version, role = p_role, state = p_state, beat = n.beat + 1,
        seen_at = clock_timestamp(), config_digest = p_digest;
END $$;
CREATE OR REPLACE FUNCTION hs_cluster_read(p_cluster text, p_node text, p_live float8,
                                           p_priority int)
RETURNS TABLE (o_holder text, o_epoch bigint, o_heartbeat bigint, o_handoff_to text,
               o_paused boolean, o_rank bigint, o_best text, o_resume_requested boolean,
               o_interval_ms bigint, o_takeover_timeout_ms bigint, o_fence_after_ms bigint,
               o_stop_timeout_ms bigint) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY
    SELECT c.holder, c.epoch, c.heartbeat, c.handoff_to, c.paused,
        (SELECT count(*) FROM hs_node n WHERE n.cluster = c.cluster AND n.node <> p_node
           AND n.node IS DISTINCT FROM c.holder
           AND n.seen_at > clock_timestamp() - make_interval(secs => p_live)
           AND (n.priority > p_priority OR (n.priority = p_priority AND n.node < p_node))),
        (SELECT n.node FROM hs_node n WHERE n.cluster = c.cluster
           AND n.node IS DISTINCT FROM c.holder
           AND n.seen_at > clock_timestamp() - make_interval(secs => p_live)
           ORDER BY n.priority DESC, n.node LIMIT 1),
        c.resume_requested, coalesce(c.interval_ms, -1), coalesce(c.takeover_timeout_ms, -1),
        coalesce(c.fence_after_ms, -1), coalesce(c.stop_timeout_ms, -1)
    FROM hs_cluster c WHERE c.cluster = p_cluster;
END $$;

-- The schema's version. A node skips all of the above when hs_meta already records this
-- version or a later one, so every change of this file must raise it (tests/integ/29
-- fails until it is raised), or databases set up by an earlier version never get the
-- change. A database of an earlier version runs the whole file again (every statement is
-- idempotent), so a change is made where the thing is defined, not appended.
-- common/db_wait.c reads the number from the next line.
-- hs-schema-version: 5
UPDATE hs_meta SET schema_version = 5 WHERE schema_version < 5;
