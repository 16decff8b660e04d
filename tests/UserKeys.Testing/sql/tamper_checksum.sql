-- Test support: make the recorded checksum of a script disagree with its content. @name text
UPDATE schemachecksums SET sha256 = sha256(convert_to('tampered', 'UTF8')) WHERE scriptname = @name
