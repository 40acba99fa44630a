-- The decision log on PostgreSQL as a second line: the service's role may only
-- INSERT and SELECT the log's tables, and a trigger refuses UPDATE, DELETE and
-- TRUNCATE whoever asks, but for the archive's prune (the tables' owner deleting
-- a record whose leaf decision_log_archived already keeps).
--
-- Run once, as the role that is to own the tables (not the service's), connected
-- to the log's database with the log's schema first on the search_path:
--
--     CREATE ROLE rac_service LOGIN PASSWORD '…';      -- the service's DATABASE_URL user
--     psql "$OWNER_URL" -v ON_ERROR_STOP=1 -f schemas/postgres-roles.sql
--
-- (replace rac_service throughout to name the role otherwise). The tables are
-- created here, as the service itself would create them (service/log/db.py), so
-- the service's role needs no CREATE; tests/test_log_records.py applies this file
-- and checks that the service appends, reads and verifies as that role, and that
-- its UPDATE and DELETE fail.

CREATE TABLE IF NOT EXISTS decision_log (
    seq BIGINT PRIMARY KEY,
    decision_id TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    input TEXT NOT NULL,
    decision TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    format INTEGER NOT NULL DEFAULT 1,
    requested_by TEXT,
    request_id TEXT,
    input_sha256 TEXT,
    masked TEXT
);
CREATE TABLE IF NOT EXISTS decision_parts (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS decision_log_archived (
    seq BIGINT PRIMARY KEY,
    decision_id TEXT NOT NULL UNIQUE,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    archive TEXT NOT NULL
);

CREATE OR REPLACE FUNCTION decision_log_refuse_change() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$  -- the log's schema, whoever calls
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'decision_log'
       AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE')
       AND EXISTS (SELECT 1 FROM decision_log_archived a WHERE a.seq = OLD.seq AND a.hash = OLD.hash) THEN
        RETURN OLD;  -- the archive's prune: the owner, and the record's leaf is kept
    END IF;
    RAISE EXCEPTION 'the decision log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE OR REPLACE FUNCTION decision_log_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the decision log is append-only: TRUNCATE of % refused', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- the Merkle tree and the signed checkpoints (service/log/checkpoints.py): only ever inserted and read
CREATE TABLE IF NOT EXISTS merkle_node (id BIGINT PRIMARY KEY, hash BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS log_checkpoint (size BIGINT PRIMARY KEY, root_hash TEXT NOT NULL,
                                           issued_at TEXT NOT NULL, note TEXT NOT NULL);
DROP TRIGGER IF EXISTS merkle_node_append_only ON merkle_node;
CREATE TRIGGER merkle_node_append_only BEFORE UPDATE OR DELETE ON merkle_node
    FOR EACH ROW EXECUTE FUNCTION decision_log_refuse_change();
DROP TRIGGER IF EXISTS log_checkpoint_append_only ON log_checkpoint;
CREATE TRIGGER log_checkpoint_append_only BEFORE UPDATE OR DELETE ON log_checkpoint
    FOR EACH ROW EXECUTE FUNCTION decision_log_refuse_change();

-- the search index (service/log/search.py): derived from the log and rebuilt from it, so not
-- append-only; the service inserts into it in the append's transaction and its backfill
-- updates the one meta row
CREATE TABLE IF NOT EXISTS decision_index (
    seq BIGINT PRIMARY KEY,
    decision_id TEXT NOT NULL,
    case_id TEXT,
    created_at TEXT NOT NULL,
    granted TEXT NOT NULL,
    totals TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decision_index_case ON decision_index (case_id, seq);
CREATE INDEX IF NOT EXISTS decision_index_created ON decision_index (created_at, seq);
CREATE TABLE IF NOT EXISTS decision_measures (
    measure TEXT NOT NULL,
    outcome TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (measure, outcome, seq)
);
CREATE TABLE IF NOT EXISTS decision_index_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL);
-- records already logged wait for `python -m service.log.search backfill`
INSERT INTO decision_index_meta (name, value)
    SELECT 'unindexed_below', COALESCE(max(seq), 0) + 1 FROM decision_log
    ON CONFLICT (name) DO NOTHING;

DROP TRIGGER IF EXISTS decision_log_append_only ON decision_log;
CREATE TRIGGER decision_log_append_only BEFORE UPDATE OR DELETE ON decision_log
    FOR EACH ROW EXECUTE FUNCTION decision_log_refuse_change();
DROP TRIGGER IF EXISTS decision_parts_append_only ON decision_parts;
CREATE TRIGGER decision_parts_append_only BEFORE UPDATE OR DELETE ON decision_parts
    FOR EACH ROW EXECUTE FUNCTION decision_log_refuse_change();
DROP TRIGGER IF EXISTS decision_log_archived_append_only ON decision_log_archived;
CREATE TRIGGER decision_log_archived_append_only BEFORE UPDATE OR DELETE ON decision_log_archived
    FOR EACH ROW EXECUTE FUNCTION decision_log_refuse_change();
DROP TRIGGER IF EXISTS decision_log_no_truncate ON decision_log;
CREATE TRIGGER decision_log_no_truncate BEFORE TRUNCATE ON decision_log
    FOR EACH STATEMENT EXECUTE FUNCTION decision_log_refuse_truncate();
DROP TRIGGER IF EXISTS decision_parts_no_truncate ON decision_parts;
CREATE TRIGGER decision_parts_no_truncate BEFORE TRUNCATE ON decision_parts
    FOR EACH STATEMENT EXECUTE FUNCTION decision_log_refuse_truncate();
DROP TRIGGER IF EXISTS decision_log_archived_no_truncate ON decision_log_archived;
CREATE TRIGGER decision_log_archived_no_truncate BEFORE TRUNCATE ON decision_log_archived
    FOR EACH STATEMENT EXECUTE FUNCTION decision_log_refuse_truncate();

REVOKE ALL ON decision_log, decision_parts, decision_log_archived, merkle_node, log_checkpoint FROM PUBLIC;
REVOKE ALL ON decision_log, decision_parts, decision_log_archived, merkle_node, log_checkpoint FROM rac_service;
GRANT SELECT, INSERT ON decision_log, decision_parts, decision_log_archived, merkle_node, log_checkpoint TO rac_service;
REVOKE ALL ON decision_index, decision_measures, decision_index_meta FROM PUBLIC;
GRANT SELECT, INSERT ON decision_index, decision_measures TO rac_service;
GRANT SELECT, INSERT, UPDATE ON decision_index_meta TO rac_service;
DO $$ BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO rac_service', current_schema());
END $$;
