-- Careplan: the event tables are append-only, enforced by the database itself.
--
-- A trigger refuses UPDATE, DELETE and TRUNCATE on the events and their hash-chain
-- links, for every role, the tables' owner included. A migration that must change
-- stored events (it should almost never) says so explicitly in its own session:
--
--     SET careplan.allow_event_changes = 'on';
--
-- Install (idempotent) after the tables exist (start Careplan once), as their owner:
--
--     psql "$CAREPLAN_DATABASE_URL" -f infra/postgres/append_only.sql

-- The function's search_path is pinned and every operator named in pg_catalog: a role
-- that may CREATE in some schema and set its own search_path could otherwise shadow
-- `=` or `<>` with an operator of its own that always says yes.
CREATE OR REPLACE FUNCTION careplan_refuse_event_changes() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The service's own role never gets the escape hatch (see app_role.sql), nor does a
    -- session it opened under another role (SET ROLE).
    IF pg_catalog.current_setting('careplan.allow_event_changes', true) OPERATOR(pg_catalog.=) 'on'
       AND current_user OPERATOR(pg_catalog.<>) 'careplan_app'
       AND session_user OPERATOR(pg_catalog.<>) 'careplan_app' THEN
        RETURN COALESCE(NEW, OLD);
    END IF;
    RAISE EXCEPTION 'careplan: % on % refused; stored events are append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'A migration may SET careplan.allow_event_changes = ''on'' in its session.';
END;
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['careplans_events', 'careplan_event_chain', 'careplan_command_outcomes']
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS careplan_append_only ON %I', t);
        EXECUTE format(
            'CREATE TRIGGER careplan_append_only BEFORE UPDATE OR DELETE ON %I '
            'FOR EACH ROW EXECUTE FUNCTION careplan_refuse_event_changes()', t);
        EXECUTE format('DROP TRIGGER IF EXISTS careplan_append_only_truncate ON %I', t);
        EXECUTE format(
            'CREATE TRIGGER careplan_append_only_truncate BEFORE TRUNCATE ON %I '
            'FOR EACH STATEMENT EXECUTE FUNCTION careplan_refuse_event_changes()', t);
    END LOOP;
END;
$$;
