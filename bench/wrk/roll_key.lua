-- POST /v1/users/{id}/keys/{key_id}/roll as the admin, grace 60 s: each request rolls a seeded secondary key
-- not rolled before (a key rolls once): the warm-up the first tenth of the users, the measured run the next
-- three tenths, each of bench/run's two wrk threads every other one.
package.path = package.path .. ";" .. os.getenv("BENCH_WRK") .. "/?.lua"
local c = require("common")
local headers = c.auth_headers()
local users = c.max_id - c.min_id + 1
local warm = string.find(c.run, "-warmup", 1, true) ~= nil
local from = warm and 0 or math.floor(users / 10)
local size = warm and math.floor(users / 10) or math.floor(users * 3 / 10)
local n = 0
function request()
  local o = from + ((2 * n + (tid - 1)) % size)
  n = n + 1
  local path = string.format("/v1/users/%d/keys/%d/roll", c.min_id + o, c.min_key_id + 2 * o + 1)
  return wrk.format("POST", path, headers, '{"grace_seconds":60}')
end
setup = c.setup
done = c.done
