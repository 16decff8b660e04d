-- Test support: the scripts DbUp's journal records, in the order they were applied.
SELECT scriptname FROM schemaversions ORDER BY schemaversionsid
