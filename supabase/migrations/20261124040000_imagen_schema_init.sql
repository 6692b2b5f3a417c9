-- imagen_schema_init: the imagen schema and its images table (one row per generated
-- image synced by `imagen generate` / `imagen sync`), indexes for the viewer's queries,
-- and row-level security: a signed-in user reads only their own rows, anon nothing.
-- Writes come from the imagen CLI with the service key (service_role bypasses RLS).
-- Idempotent: every statement can run again on an already migrated database.

create schema if not exists extensions;
create extension if not exists pg_trgm with schema extensions;

create schema if not exists imagen;

create table if not exists imagen.images (
	id uuid primary key default gen_random_uuid(),
	owner_user_id uuid not null,
	-- "{date}/{file name}" inside the bucket, e.g. 2026-11-24/2026-11-24-a-fox-42.png
	storage_path text not null unique,
	bucket text not null default 'imagen-generated',
	prompt text not null,
	final_prompt text,
	negative_prompt text,
	style text,
	backend text not null,            -- the backend instance name from the config
	backend_type text not null,
	model text,
	seed bigint,
	width integer,
	height integer,
	steps integer,
	bytes bigint not null,
	sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
	cost_usd numeric(12, 6),          -- null when unknown or not billed
	cost jsonb,                       -- the sidecar's cost record, null when none
	metadata jsonb not null default '{}', -- the sidecar JSON verbatim
	generated_at timestamptz not null,    -- the sidecar's created_at
	created_at timestamptz not null default now()
);

-- The viewer lists a user's images newest first, looks images up by seed and searches
-- prompts by substring (ILIKE '%fox%' uses the trigram index).
create index if not exists images_owner_created_at_idx
	on imagen.images (owner_user_id, created_at desc);
create index if not exists images_seed_idx on imagen.images (seed);
create index if not exists images_prompt_trgm_idx
	on imagen.images using gin (prompt extensions.gin_trgm_ops);

alter table imagen.images enable row level security;

-- Read side only: rows are written with the service key.  (select auth.uid()) is
-- evaluated once per statement instead of once per row.
drop policy if exists "imagen images: owner reads own rows" on imagen.images;
create policy "imagen images: owner reads own rows" on imagen.images
	for select to authenticated
	using (owner_user_id = (select auth.uid()));
