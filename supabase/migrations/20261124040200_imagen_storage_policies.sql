-- imagen_storage_policies: the private bucket the CLI uploads into, and who may read
-- its objects.
-- Idempotent: the bucket insert does nothing when the bucket exists (settings changed
-- later in the dashboard are kept), the policy is dropped and re-created.

insert into storage.buckets (id, name, public, file_size_limit, allowed_mime_types)
values ('imagen-generated', 'imagen-generated', false,
        52428800, -- 50 MiB, the Free plan's global upload limit
        array['image/png', 'image/jpeg', 'image/webp'])
on conflict (id) do nothing;

-- How an object is tied to its owner: the CLI uploads with the service key, so Storage
-- records no owner on the object (owner/owner_id stay NULL), and object names
-- ("{date}/{file name}") carry no user id to match a folder against.  The owner is
-- recorded instead on the imagen.images row describing the object (owner_user_id NOT
-- NULL; bucket and storage_path = the object's bucket_id and name), so a signed-in
-- user may read an object of this bucket only when an images row of theirs points at
-- it: an object without a row, or with another user's row, stays unreadable.  The
-- subquery runs under the images table's own RLS, which shows the caller only their
-- rows, so the two policies agree by construction.
-- No INSERT/UPDATE/DELETE policies: only service_role (which bypasses RLS) writes.
drop policy if exists "imagen-generated: owner reads own objects" on storage.objects;
create policy "imagen-generated: owner reads own objects" on storage.objects
	for select to authenticated
	using (
		bucket_id = 'imagen-generated'
		and exists (
			select 1
			from imagen.images i
			where i.bucket = storage.objects.bucket_id
			  and i.storage_path = storage.objects.name
			  and i.owner_user_id = (select auth.uid())
		)
	);
