-- GET /v1/users/{random seeded id} as the admin (BENCH_PATH: another prefix, for the reference).
package.path = package.path .. ";" .. os.getenv("BENCH_WRK") .. "/?.lua"
local c = require("common")
local headers = c.auth_headers()
local prefix = os.getenv("BENCH_PATH") or ""
if prefix == "" then prefix = "/v1/users/" end
function init(args) math.randomseed(os.time() + (tid or 0)) end
function request()
  return wrk.format("GET", prefix .. math.random(c.min_id, c.max_id), headers)
end
setup = c.setup
done = c.done
