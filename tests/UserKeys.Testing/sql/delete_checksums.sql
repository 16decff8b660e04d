-- Test support: forget every recorded checksum (a database migrated before checksums existed).
DELETE FROM schemachecksums
