-- Test support: a table's columns, by name. @table text
SELECT attname::text FROM pg_attribute WHERE attrelid = @table::regclass AND attnum > 0 AND NOT attisdropped ORDER BY 1
