-- Tamper-evident audit log. Layout of the MACed bytes: docs/audit-chain.md.

-- The chain head: one row, locked FOR UPDATE by every appending transaction, so appends from all
-- processes form one line. position = id of the newest row (0 when empty).
CREATE TABLE audit_chain_head (
    singleton            boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    position             bigint NOT NULL CHECK (position >= 0),
    head_hmac            bytea NOT NULL CHECK (length(head_hmac) = 32),
    head_created_at      timestamptz NOT NULL,
    checkpoint_position  bigint NOT NULL DEFAULT 0,
    checkpoint_at        timestamptz NOT NULL DEFAULT now()
);
-- The genesis link: row 1's prev_hmac is 32 zero bytes.
INSERT INTO audit_chain_head (position, head_hmac, head_created_at)
VALUES (0, decode(repeat('00', 32), 'hex'), '1970-01-01 00:00:00+00');

-- Rows are numbered contiguously: id is the position in the chain. Monthly range partitions on
-- created_at (part of the key, as Postgres requires); there is no DEFAULT partition, partitions
-- are created ahead of time (audit_log_ensure_partitions) and pruned whole.
CREATE TABLE audit_log (
    id              bigint NOT NULL CHECK (id > 0),
    created_at      timestamptz NOT NULL,
    key_id          text NOT NULL,
    principal       text NOT NULL,
    action          text NOT NULL,
    agent           text,
    session         text,
    tenant          text,
    -- RFC 8785 canonical JSON: the exact text that was MACed.
    metadata        text NOT NULL,
    -- Query copy only (jsonb reorders keys, so verification never reads it); generated, so it
    -- cannot be written or diverge from the MACed text.
    metadata_jsonb  jsonb GENERATED ALWAYS AS (metadata::jsonb) STORED,
    prev_hmac       bytea NOT NULL CHECK (length(prev_hmac) = 32),
    hmac            bytea NOT NULL CHECK (length(hmac) = 32),
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

CREATE INDEX audit_log_created_at ON audit_log (created_at);
CREATE INDEX audit_log_principal ON audit_log (principal, id);

-- Signed checkpoints: chain position and head hmac at a point in time, signed with Ed25519 so
-- anyone holding the public key can check them. kind 'retention' marks a retention anchor: every
-- row up to anchor_position may be pruned and verification starts after it.
CREATE TABLE audit_checkpoint (
    id                bigserial PRIMARY KEY,
    installation_id   uuid NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('periodic', 'retention')),
    position          bigint NOT NULL CHECK (position >= 0),
    head_hmac         bytea NOT NULL CHECK (length(head_hmac) = 32),
    head_created_at   timestamptz NOT NULL,
    anchor_position   bigint CHECK (anchor_position >= 0),
    anchor_hmac       bytea CHECK (length(anchor_hmac) = 32),
    created_at        timestamptz NOT NULL,
    signing_key_id    text NOT NULL,
    signature         bytea NOT NULL CHECK (length(signature) = 64),
    CHECK ((anchor_position IS NULL) = (anchor_hmac IS NULL))
);
CREATE INDEX audit_checkpoint_retention ON audit_checkpoint (id) WHERE kind = 'retention';

-- Append-only, enforced for every role (the table owner included): rows are never updated, and
-- deleted only by delete-mode retention, which sets alexandria.audit_retention for its
-- transaction. Row triggers on a partitioned table are cloned onto every partition.
CREATE FUNCTION audit_log_forbid_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: rows cannot be updated'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE FUNCTION audit_log_guard_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('alexandria.audit_retention', true), '') <> 'on' THEN
        RAISE EXCEPTION 'audit_log is append-only: rows are deleted only by retention'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_forbid_update();
CREATE TRIGGER audit_log_delete_by_retention_only BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard_delete();
CREATE FUNCTION audit_forbid_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% cannot be truncated', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_forbid_truncate();
CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION audit_forbid_truncate();
CREATE FUNCTION audit_checkpoint_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_checkpoint is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_checkpoint_append_only BEFORE UPDATE OR DELETE ON audit_checkpoint
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_forbid_change();

-- Partition maintenance runs through these functions, owned by the table owner (SECURITY DEFINER),
-- so neither the api-server nor the retention job needs DDL rights or DELETE, and the database
-- itself refuses to prune rows that no retention anchor covers.

-- Monthly partitions (UTC) from the month of `from_ts` through `months_ahead` months later;
-- returns the names it created. Idempotent.
CREATE FUNCTION audit_log_ensure_partitions(from_ts timestamptz, months_ahead integer)
RETURNS SETOF text LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    month_start timestamptz := date_trunc('month', from_ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    part_name text;
BEGIN
    IF months_ahead < 0 OR months_ahead > 120 THEN
        RAISE EXCEPTION 'months_ahead must be between 0 and 120, got %', months_ahead;
    END IF;
    FOR i IN 0..months_ahead LOOP
        part_name := format('audit_log_p%s', to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM'));
        IF to_regclass(part_name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
                part_name, month_start, month_start + interval '1 month');
            RETURN NEXT part_name;
        END IF;
        month_start := month_start + interval '1 month';
    END LOOP;
END $$;

-- The newest retention anchor position (0 when there is none).
CREATE FUNCTION audit_retention_anchor_position() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce(max(anchor_position), 0) FROM audit_checkpoint WHERE kind = 'retention'
$$;

-- Partitions of audit_log with their bounds and id range, oldest first.
CREATE VIEW audit_log_partitions AS
SELECT c.relname::text AS name,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz AS range_start,
       (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS range_end
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'audit_log'::regclass;

-- Detaches and drops one partition, only if a retention anchor covers every row in it.
CREATE FUNCTION audit_log_drop_partition(part_name text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    newest bigint;
    rows_dropped bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit_log_partitions WHERE name = part_name) THEN
        RAISE EXCEPTION '% is not a partition of audit_log', part_name;
    END IF;
    IF (SELECT range_end FROM audit_log_partitions WHERE name = part_name) > now() THEN
        RAISE EXCEPTION 'partition % is not entirely in the past', part_name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('SELECT max(id), count(*) FROM %I', part_name) INTO newest, rows_dropped;
    IF newest IS NOT NULL AND newest > audit_retention_anchor_position() THEN
        RAISE EXCEPTION 'partition % holds rows up to id % beyond the retention anchor %',
            part_name, newest, audit_retention_anchor_position()
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    EXECUTE format('ALTER TABLE audit_log DETACH PARTITION %I', part_name);
    EXECUTE format('DROP TABLE %I', part_name);
    RETURN rows_dropped;
END $$;

-- Deletes up to `batch` rows with id <= through_id (delete-mode retention); only rows that a
-- retention anchor covers. Returns the number deleted.
CREATE FUNCTION audit_log_prune_rows(through_id bigint, batch integer) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    deleted bigint;
BEGIN
    IF through_id > audit_retention_anchor_position() THEN
        RAISE EXCEPTION 'rows up to id % are beyond the retention anchor %',
            through_id, audit_retention_anchor_position()
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config('alexandria.audit_retention', 'on', true);
    DELETE FROM audit_log
    WHERE (id, created_at) IN (
        SELECT id, created_at FROM audit_log WHERE id <= through_id ORDER BY id LIMIT batch);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM set_config('alexandria.audit_retention', 'off', true);
    RETURN deleted;
END $$;

REVOKE ALL ON FUNCTION audit_log_ensure_partitions(timestamptz, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log_drop_partition(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log_prune_rows(bigint, integer) FROM PUBLIC;

SELECT audit_log_ensure_partitions(now(), 3);

-- Least privilege (docs/audit-chain.md): the api-server's role may append and read, never
-- change or delete rows; retention runs as its own role. Roles are cluster-wide, so create them
-- only where this migration may (CREATEROLE) and tolerate a concurrent creator.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['alexandria_app', 'alexandria_retention'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION
                WHEN insufficient_privilege THEN
                    RAISE NOTICE 'cannot create role % (no CREATEROLE); create it as documented', role_name;
                WHEN duplicate_object OR unique_violation THEN
                    NULL;
            END;
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'alexandria_app') THEN
        GRANT SELECT, INSERT ON audit_log TO alexandria_app;
        GRANT SELECT, UPDATE ON audit_chain_head TO alexandria_app;
        GRANT SELECT, INSERT ON audit_checkpoint TO alexandria_app;
        GRANT USAGE ON SEQUENCE audit_checkpoint_id_seq TO alexandria_app;
        GRANT SELECT ON installation, audit_log_partitions TO alexandria_app;
        GRANT EXECUTE ON FUNCTION audit_log_ensure_partitions(timestamptz, integer) TO alexandria_app;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'alexandria_retention') THEN
        GRANT SELECT ON audit_log, audit_chain_head, installation, audit_log_partitions
            TO alexandria_retention;
        GRANT SELECT, INSERT ON audit_checkpoint TO alexandria_retention;
        GRANT USAGE ON SEQUENCE audit_checkpoint_id_seq TO alexandria_retention;
        GRANT EXECUTE ON FUNCTION audit_log_ensure_partitions(timestamptz, integer),
            audit_log_drop_partition(text), audit_log_prune_rows(bigint, integer)
            TO alexandria_retention;
    END IF;
END $$;
