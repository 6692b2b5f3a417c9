-- mai_imagen_usage: one usage/cost row per synced image of a billed backend, in the
-- shared mai schema (created here when the project does not have it yet).  Same
-- discipline as imagen.images: RLS, owner reads own rows, service_role writes, anon
-- nothing.  The schema itself may be shared with other apps: grants and revokes here
-- touch only this table (USAGE on mai is granted, never revoked).
-- Idempotent, and mai is added to PostgREST's exposed schemas only when missing.

create schema if not exists mai;

create table if not exists mai.imagen_usage (
	id uuid primary key default gen_random_uuid(),
	owner_user_id uuid not null,
	storage_path text not null unique, -- one usage row per image: re-syncing is idempotent
	backend text not null,
	backend_type text not null,
	model text,
	image_count integer not null default 1,
	cost_usd numeric(12, 6),           -- null when unknown
	cost_method text,                  -- the cost record's method, or why the cost is unknown
	predict_time_s double precision,
	input_tokens integer,
	output_tokens integer,
	created_at timestamptz not null default now()
);

create index if not exists imagen_usage_owner_created_at_idx
	on mai.imagen_usage (owner_user_id, created_at desc);

alter table mai.imagen_usage enable row level security;

drop policy if exists "imagen usage: owner reads own rows" on mai.imagen_usage;
create policy "imagen usage: owner reads own rows" on mai.imagen_usage
	for select to authenticated
	using (owner_user_id = (select auth.uid()));

-- revoke everything first: the table ends up with exactly these privileges (see
-- imagen_schema_grants)
revoke all on mai.imagen_usage from public, anon, authenticated, service_role;
grant usage on schema mai to authenticated, service_role;
grant select on mai.imagen_usage to authenticated;
grant select, insert, update, delete on mai.imagen_usage to service_role;

do $$
declare
	cur text;
	schemas text[];
begin
	select substr(c, length('pgrst.db_schemas=') + 1) into cur
	from pg_db_role_setting s
	join pg_roles r on r.oid = s.setrole,
	     unnest(s.setconfig) c
	where r.rolname = 'authenticator' and s.setdatabase = 0
	  and c like 'pgrst.db_schemas=%';
	schemas := coalesce(
		array(select btrim(x) from unnest(string_to_array(cur, ',')) x where btrim(x) <> ''),
		'{}');
	if cardinality(schemas) = 0 then
		schemas := array['public', 'graphql_public'];
	end if;
	if not 'mai' = any (schemas) then
		schemas := schemas || 'mai'::text;
	end if;
	execute format('alter role authenticator set pgrst.db_schemas = %L',
	               array_to_string(schemas, ', '));
end
$$;

notify pgrst, 'reload config';
notify pgrst, 'reload schema';
