-- wrk script of bench/scaleout.sh.
--
-- TARGETS="127.0.0.1:PORT1 127.0.0.1:PORT2": wrk's threads go to these
-- addresses in turn (thread i to address i mod n), so that one wrk spreads
-- its load over several framewise processes and still measures one latency
-- distribution; unset, every thread goes to the URL's address.
-- CREATE_BODY: when set, each request is POST /v1.3/analyze/tasks (the URL's
-- path) with this JSON body; else wrk's GET of the URL.
--
-- At the end it prints the answers by status, one "status <code> <count>"
-- line each: wrk itself only counts "Non-2xx or 3xx responses", and a 429
-- of a server that throttles creates is not an error like a 500.

local targets = {}
for hostport in string.gmatch(os.getenv("TARGETS") or "", "%S+") do
  local host, port = hostport:match("^(.*):(%d+)$")
  table.insert(targets, wrk.lookup(host, port)[1])
end

local body = os.getenv("CREATE_BODY")
if body and body ~= "" then
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
  if #targets > 0 then
    thread.addr = targets[(#threads - 1) % #targets + 1]
  end
end

statuses = {}
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do
      total[code] = (total[code] or 0) + n
    end
  end
  for code, n in pairs(total) do
    io.write(string.format("status %d %d\n", code, n))
  end
end
