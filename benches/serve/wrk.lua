-- wrk (benches/serve.sh): every request carries the token in $TOKEN; with $BODY_FILE, it is a
-- POST of that file's bytes as $CONTENT_TYPE (default application/json).
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local body_file = os.getenv("BODY_FILE")
if body_file then
  local f = assert(io.open(body_file, "rb"))
  wrk.method = "POST"
  wrk.body = f:read("*a")
  f:close()
  wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE") or "application/json"
end

-- Count answers that are not 2xx (each thread counts its own; done() adds them up): a bench
-- that measures refusals measures nothing.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("non2xx=%d\n", total))
end
