-- wrk (benches/channels.sh): POSTs the pre-signed requests of $REQUESTS (sign.py) to the path
-- given on the command line, each thread its own slice, never one twice (a thread that runs out
-- stops: the bench sizes $REQUESTS above what the run can send). Every request is formatted in
-- `init`, before the clock starts, and there is no `response` callback (it makes wrk hand every
-- answer to Lua): on 2 cores the load generator's own work is taken from the server's. Answers
-- that are not 2xx or 3xx are counted by wrk itself ("Non-2xx or 3xx responses"); the requests
-- sent are counted here, over all threads.
local threads = {}
local nthreads = tonumber(os.getenv("THREADS") or "2")
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function format(line)
  local head, body = line:match("^(.-)\t\t(.*)$")
  local headers, key = {}, nil
  for field in (head .. "\t"):gmatch("([^\t]*)\t") do
    if key == nil then key = field else headers[key] = field; key = nil end
  end
  return wrk.format("POST", nil, headers, body)
end

function init(args)
  sent = 0
  requests = {}
  local i = 0
  for line in io.lines(os.getenv("REQUESTS")) do
    if i % nthreads == id then requests[#requests + 1] = format(line) end
    i = i + 1
  end
  next_request = 1
end

function request()
  local r = requests[next_request]
  if r == nil then
    wrk.thread:stop()
    r = requests[#requests]
  end
  next_request = next_request + 1
  sent = sent + 1
  return r
end

function done(summary, latency, requests)
  local count = 0
  for _, t in ipairs(threads) do count = count + t:get("sent") end
  io.write(string.format("sent=%d\n", count))
end
