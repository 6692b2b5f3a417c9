-- bootstrap.sql - the minimal Supabase environment imagen's migrations expect, for the
-- throwaway test cluster only (tests/db/pg.sh applies it before supabase/migrations/).
-- A hosted or CLI-started Supabase project already has all of this; never apply it there.
-- Modelled on supabase/postgres (roles), supabase/auth (auth.uid()) and supabase/storage
-- (migrations/tenant: storage.buckets, storage.objects and their helpers).
-- Idempotent: safe to apply twice.

-- Roles (supabase/postgres roles.sql).  postgres is the superuser initdb created.
do $$
begin
	if not exists (select 1 from pg_roles where rolname = 'anon') then
		create role anon nologin noinherit;
	end if;
	if not exists (select 1 from pg_roles where rolname = 'authenticated') then
		create role authenticated nologin noinherit;
	end if;
	if not exists (select 1 from pg_roles where rolname = 'service_role') then
		create role service_role nologin noinherit bypassrls;
	end if;
	if not exists (select 1 from pg_roles where rolname = 'authenticator') then
		create role authenticator login noinherit;
	end if;
end
$$;
grant anon, authenticated, service_role to authenticator;

-- Supabase installs extensions into their own schema.
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
create extension if not exists pgcrypto with schema extensions;

-- auth (supabase/auth migrations 20220224000811_update_auth_functions).
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
	id uuid primary key,
	aud varchar(255),
	role varchar(255),
	email varchar(255) unique,
	raw_app_meta_data jsonb,
	raw_user_meta_data jsonb,
	created_at timestamptz default now(),
	updated_at timestamptz default now()
);

create or replace function auth.uid() returns uuid
language sql stable as $$
	select coalesce(
		nullif(current_setting('request.jwt.claim.sub', true), ''),
		(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
	)::uuid
$$;

create or replace function auth.role() returns text
language sql stable as $$
	select coalesce(
		nullif(current_setting('request.jwt.claim.role', true), ''),
		(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
	)::text
$$;

create or replace function auth.jwt() returns jsonb
language sql stable as $$
	select coalesce(
		nullif(current_setting('request.jwt.claim', true), ''),
		nullif(current_setting('request.jwt.claims', true), '')
	)::jsonb
$$;

-- storage (supabase/storage migrations/tenant 0002, 0003, 0016, 0018, 0025 and the
-- bucket columns of 0006/0007/0012).
create schema if not exists storage;
grant usage on schema storage to anon, authenticated, service_role;

create table if not exists storage.buckets (
	id text not null primary key,
	name text not null,
	owner uuid,
	created_at timestamptz default now(),
	updated_at timestamptz default now(),
	public boolean default false,
	avif_autodetection boolean default false,
	file_size_limit bigint,
	allowed_mime_types text[],
	owner_id text
);
create unique index if not exists bname on storage.buckets using btree (name);

create table if not exists storage.objects (
	id uuid not null default gen_random_uuid() primary key,
	bucket_id text references storage.buckets (id),
	name text,
	owner uuid,
	created_at timestamptz default now(),
	updated_at timestamptz default now(),
	last_accessed_at timestamptz default now(),
	metadata jsonb,
	path_tokens text[] generated always as (string_to_array(name, '/')) stored,
	version text,
	owner_id text,
	user_metadata jsonb
);
create unique index if not exists bucketid_objname on storage.objects using btree (bucket_id, name);
create index if not exists name_prefix_search on storage.objects using btree (name text_pattern_ops);

alter table storage.buckets enable row level security;
alter table storage.objects enable row level security;
grant all on storage.buckets to anon, authenticated, service_role;
grant all on storage.objects to anon, authenticated, service_role;

create or replace function storage.foldername(name text) returns text[]
language plpgsql as $$
declare
	_parts text[];
begin
	select string_to_array(name, '/') into _parts;
	return _parts[1:array_length(_parts, 1) - 1];
end
$$;

create or replace function storage.filename(name text) returns text
language plpgsql as $$
declare
	_parts text[];
begin
	select string_to_array(name, '/') into _parts;
	return _parts[array_length(_parts, 1)];
end
$$;

create or replace function storage.extension(name text) returns text
language plpgsql as $$
declare
	_parts text[];
	_filename text;
begin
	select string_to_array(name, '/') into _parts;
	select _parts[array_length(_parts, 1)] into _filename;
	return reverse(split_part(reverse(_filename), '.', 1));
end
$$;

-- What a fresh project exposes through PostgREST before any migration of ours.
do $$
begin
	if not exists (select 1 from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
	               where r.rolname = 'authenticator' and s.setdatabase = 0
	                 and exists (select 1 from unnest(s.setconfig) c where c like 'pgrst.db_schemas=%')) then
		alter role authenticator set pgrst.db_schemas = 'public, graphql_public';
	end if;
end
$$;
