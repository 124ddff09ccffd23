-- wrk script: counts responses that are complete expositions (200, first
-- family first, the collectors' health last, a final newline) and prints one
-- RESULT line with them and wrk's own error counts.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  good = 0
  bad = 0
end

function response(status, headers, body)
  if status == 200 and body:sub(-1) == "\n"
      and body:find("# HELP tcpq_exporter_build_info ", 1, true) == 1
      and body:find("\ntcpq_collector_duration_seconds{collector=\"sysctl\"} ", 1, true) then
    good = good + 1
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local g, b = 0, 0
  for _, t in ipairs(threads) do
    g = g + t:get("good")
    b = b + t:get("bad")
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d good=%d bad=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, g, b, e.connect, e.read, e.write, e.status, e.timeout))
end
