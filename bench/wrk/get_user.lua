-- GET /v1/users/{random seeded id} as the admin.
package.path = package.path .. ";" .. os.getenv("BENCH_WRK") .. "/?.lua"
local c = require("common")
local headers = c.auth_headers()
function init(args) math.randomseed(os.time() + (tid or 0)) end
function request()
  return wrk.format("GET", "/v1/users/" .. math.random(c.min_id, c.max_id), headers)
end
setup = c.setup
done = c.done
