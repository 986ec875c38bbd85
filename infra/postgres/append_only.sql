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

CREATE OR REPLACE FUNCTION careplan_refuse_event_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The service's own role never gets the escape hatch (see app_role.sql).
    IF current_setting('careplan.allow_event_changes', true) = 'on'
       AND current_user <> 'careplan_app' THEN
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
    FOREACH t IN ARRAY ARRAY['careplans_events', 'careplan_event_chain'] LOOP
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
