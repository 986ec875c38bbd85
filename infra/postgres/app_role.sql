-- Careplan: the role the application runs as may only append to and read the event
-- tables. It keeps full rights on the views (projections rewrite their rows), the
-- positions, the idempotency keys and the access log.
--
-- Run as the owner of the tables (the role that first started Careplan, e.g. a
-- migration role), after they exist, then point CAREPLAN_DATABASE_URL at careplan_app:
--
--     psql "$OWNER_DATABASE_URL" -f infra/postgres/app_role.sql

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'careplan_app') THEN
        CREATE ROLE careplan_app LOGIN;
    END IF;
END;
$$;

-- CREATE: the service creates the tables of views it gains in later releases (and
-- runs CREATE … IF NOT EXISTS at start); it owns none of the event tables.
GRANT USAGE, CREATE ON SCHEMA public TO careplan_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO careplan_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO careplan_app;
-- Views, positions, keys and the access log belong to the service, which re-declares
-- them at start; the event tables stay with their owner. (The role running this must
-- be a superuser or a member of careplan_app.)
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN
        SELECT tablename FROM pg_tables
         WHERE schemaname = 'public'
           AND tablename NOT IN ('careplans_events', 'careplan_event_chain',
                                 'careplan_command_outcomes')
    LOOP
        EXECUTE format('ALTER TABLE %I OWNER TO careplan_app', t);
    END LOOP;
END;
$$;
-- The stored events, their links and the results of keyed commands stored with them:
-- append and read. UPDATE stays granted only
-- because the event store serialises appends with LOCK TABLE … IN EXCLUSIVE MODE,
-- which PostgreSQL allows to roles holding UPDATE; the append-only trigger refuses
-- every row update from careplan_app, with or without the migration setting.
REVOKE DELETE, TRUNCATE
    ON careplans_events, careplan_event_chain, careplan_command_outcomes FROM careplan_app;
