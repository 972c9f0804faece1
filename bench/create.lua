-- wrk script of bench/scaleout.sh: POST /v1.3/analyze/tasks with the small
-- JSON body in $CREATE_BODY (a task on a video URL), and a count of the
-- answers by status, printed at the end as "status <code> <count>" lines
-- (wrk itself only counts "Non-2xx or 3xx responses": a 429 of a server
-- that throttles creates is told apart from an error here).
wrk.method = "POST"
wrk.body = os.getenv("CREATE_BODY")
wrk.headers["Content-Type"] = "application/json"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
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
