-- GET BENCH_PATH (a listing) as the admin.
package.path = package.path .. ";" .. os.getenv("BENCH_WRK") .. "/?.lua"
local c = require("common")
local headers = c.auth_headers()
local path = os.getenv("BENCH_PATH")
function request() return wrk.format("GET", path, headers) end
setup = c.setup
done = c.done
