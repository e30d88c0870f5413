-- wrk script for scripts/bench-saml.py: POSTs prepared SAML responses to the ACS, each exactly once.
--
--   wrk -tT -cC -d LIMIT --latency -s scripts/bench-saml.lua URL -- REQUESTS_FILE T
--
-- REQUESTS_FILE: one prepared login a line, "PATH<TAB>COOKIE<TAB>FORM-BODY". Thread i (0-based) of T
-- takes lines i+1, i+1+T, ...; it sends each once (delay() reserves the next line for the
-- connection about to send, so no line is sent twice and none is skipped), then idles its
-- connections. A response counts as a login when it is a 302 whose Location carries no "error="
-- (Portico answers every failed sign-in with a redirect to the app URL with ?error=CODE).
-- When a thread has all its answers it prints "DONE id ok failed t_first_us t_last_us first_failure"
-- (CLOCK_MONOTONIC microseconds: the first request sent, the last answer read) and stops. The
-- driver sends SIGINT once every thread is done, so wrk ends without waiting for -d; done()
-- prints the latency percentiles of those requests and wrk's socket/status error counts.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC, as Python's time.monotonic()
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

-- setup environment (also runs done())
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

-- thread environment
local reqs = {}
local reserved, sent, received = 0, 0, 0
ok, failed, first_failure = 0, 0, ""
local t_first, t_last = 0, 0

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  local n = 0
  for line in io.lines(path) do
    if n % nthreads == id then
      local p, cookie, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      table.insert(reqs, wrk.format("POST", p, {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["Cookie"] = cookie,
      }, body))
    end
    n = n + 1
  end
  total = #reqs
end

function delay()
  if reserved < #reqs then
    reserved = reserved + 1
    return 0
  end
  return 600000 -- nothing left for this connection: idle until the thread stops
end

function request()
  if reserved == 0 then
    return reqs[1] -- wrk's own check of the request format before the run: not sent
  end
  sent = sent + 1
  if sent == 1 then
    t_first = now_us()
  end
  return reqs[sent]
end

function response(status, headers, body)
  received = received + 1
  local loc = headers["location"] or headers["Location"] or ""
  if status == 302 and not loc:find("error=", 1, true) then
    ok = ok + 1
  else
    failed = failed + 1
    if first_failure == "" then
      first_failure = status .. " " .. loc .. " " .. (body or ""):sub(1, 200):gsub("%s+", " ")
    end
  end
  if received == #reqs then
    t_last = now_us()
    io.write(string.format("DONE %d %d %d %d %d %s\n", id, ok, failed, t_first, t_last, first_failure))
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  io.write(string.format("LATENCY_US p50=%d p90=%d p99=%d max=%d mean=%.0f n=%d\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    summary.requests))
  local e = summary.errors
  io.write(string.format("ERRORS connect=%d read=%d write=%d status=%d timeout=%d\n",
    e.connect, e.read, e.write, e.status, e.timeout))
  for _, t in ipairs(threads) do
    io.write(string.format("THREAD %d ok=%d failed=%d of=%d\n", t:get("id"), t:get("ok"), t:get("failed"),
      t:get("total") or -1))
  end
end
