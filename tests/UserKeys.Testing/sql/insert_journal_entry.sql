-- Test support: record a script in DbUp's journal as if a newer build had applied it. @name text
INSERT INTO schemaversions (scriptname, applied) VALUES (@name, now())
