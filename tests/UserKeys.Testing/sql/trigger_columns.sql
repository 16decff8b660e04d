-- Test support: the columns an UPDATE OF trigger names, by name. @trigger text
SELECT a.attname::text
FROM pg_trigger t
JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = ANY (t.tgattr::int2[])
WHERE t.tgname = @trigger
ORDER BY 1
