-- imagen_schema_grants: who may touch the imagen schema at all.  Row-level security
-- (imagen_schema_init) then narrows authenticated users to their own rows.
--   authenticated: read (SELECT) only;
--   service_role:  read and write (the CLI's upsert needs SELECT, INSERT, UPDATE);
--   anon:          nothing, not even USAGE on the schema.
-- No ALTER DEFAULT PRIVILEGES: a future table gets its grants (and RLS) explicitly.
-- Everything is revoked first, so whatever a project's default privileges or an earlier
-- hand-made GRANT gave (TRUNCATE, say, which row-level security does not cover), the
-- table ends up with exactly the privileges below.
-- Idempotent: GRANT and REVOKE of what is already (not) granted are no-ops.

revoke all on schema imagen from public, anon;
revoke all on all tables in schema imagen from public, anon;
revoke all on imagen.images from authenticated, service_role;

grant usage on schema imagen to authenticated, service_role;
grant select on imagen.images to authenticated;
grant select, insert, update, delete on imagen.images to service_role;
