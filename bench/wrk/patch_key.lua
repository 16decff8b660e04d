-- PATCH /v1/users/{id}/keys/{key_id} as the admin: a new name for a random seeded secondary key (each request
-- changes the key: a notification to every instance and an audit event).
package.path = package.path .. ";" .. os.getenv("BENCH_WRK") .. "/?.lua"
local c = require("common")
local headers = c.auth_headers()
local users = c.max_id - c.min_id + 1
local n = 0
function init(args)
  math.randomseed(os.time() + (tid or 0))
end
function request()
  n = n + 1
  local o = math.random(0, users - 1)
  local path = string.format("/v1/users/%d/keys/%d", c.min_id + o, c.min_key_id + 2 * o + 1)
  return wrk.format("PATCH", path, headers, string.format('{"name":"wrk-%s-%d-%d"}', c.run, tid, n))
end
setup = c.setup
done = c.done
