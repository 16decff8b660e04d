-- Test support: the checksums the upgrader recorded, by script.
SELECT scriptname, sha256 FROM schemachecksums ORDER BY scriptname
