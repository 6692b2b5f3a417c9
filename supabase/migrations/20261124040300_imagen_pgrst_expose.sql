-- imagen_pgrst_expose: let PostgREST (the Data API) serve the imagen schema, by adding
-- "imagen" to pgrst.db_schemas on the authenticator role, then tell PostgREST to
-- reload its configuration and schema cache.  Hosted projects can do the same in the
-- dashboard (API settings -> Exposed schemas); the role setting takes precedence there.
-- `ALTER ROLE authenticator RESET pgrst.db_schemas` hands control back to the dashboard.
-- Idempotent: the schemas already listed are kept and imagen is added only once.

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
	if not 'imagen' = any (schemas) then
		schemas := schemas || 'imagen'::text;
	end if;
	execute format('alter role authenticator set pgrst.db_schemas = %L',
	               array_to_string(schemas, ', '));
end
$$;

notify pgrst, 'reload config';
notify pgrst, 'reload schema';
