-- wrk (benches/channels.sh): POSTs the pre-signed requests of $REQUESTS (sign.py) to the path
-- given on the command line, each thread its own slice, never one twice (a thread that runs out
-- stops: the bench sizes $REQUESTS above what the run can send). Counts answers that are not
-- 2xx, and requests sent, over all threads.
local threads = {}
local nthreads = tonumber(os.getenv("THREADS") or "2")
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  bad, sent = 0, 0
  lines = {}
  local i = 0
  for line in io.lines(os.getenv("REQUESTS")) do
    if i % nthreads == id then lines[#lines + 1] = line end
    i = i + 1
  end
  next_line = 1
end

function request()
  local line = lines[next_line]
  if line == nil then
    wrk.thread:stop()
    line = lines[#lines]
  end
  next_line = next_line + 1
  sent = sent + 1
  local headers, body = {}, nil
  local head, rest = line:match("^(.-)\t\t(.*)$")
  body = rest
  local key = nil
  for field in (head .. "\t"):gmatch("([^\t]*)\t") do
    if key == nil then key = field else headers[key] = field; key = nil end
  end
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end

function done(summary, latency, requests)
  local total, count = 0, 0
  for _, t in ipairs(threads) do
    total = total + t:get("bad")
    count = count + t:get("sent")
  end
  io.write(string.format("non2xx=%d\nsent=%d\n", total, count))
end
