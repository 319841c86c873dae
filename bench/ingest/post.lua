-- wrk script of the ingestion benchmark (bench/ingest/run.py drives it).
--
-- Every request carries measurements no earlier request sent: each wrk thread owns one
-- connection and one run, and request number j of thread t (j answers received so far)
-- holds the items j*BATCH .. j*BATCH+BATCH-1 of that thread, each with its own uuid, seq
-- and times. The body is a pure function of (nonce, thread, item), so the resend mode
-- rebuilds exactly the bodies a load phase sent.
--
-- Configuration comes from the environment:
--   BENCH_MODE      load | resend
--   BENCH_API       native (POST /api/v1/runs/<id>/measurements) | codecarbon (POST /emissions)
--   BENCH_TARGETS   one per thread, comma separated: the path (native) or the run id (codecarbon)
--   BENCH_PATH      the path for codecarbon posts
--   BENCH_HEADER    "Name: value" of the key
--   BENCH_BATCH     measurements per request (native)
--   BENCH_NONCE     a 32-bit number that makes this phase's uuids its own
--   BENCH_BASE      epoch seconds of the first interval's start
--   BENCH_DEADLINE  epoch seconds after which a thread stops (load mode)
--   BENCH_COUNTS    requests per thread to replay (resend mode), comma separated
--   BENCH_OUT       file the done() summary is written to (JSON)
--   BENCH_MARKS     folder where each thread leaves a file once it has stopped
--
-- A thread stops itself in response(), once the answer to its last request is in, so no
-- request is in flight when wrk ends: what the server stored is exactly what it answered.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_usec; } bench_timeval;
int gettimeofday(bench_timeval *tv, void *tz);
]])
local tv = ffi.new("bench_timeval")
local function now()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) + tonumber(tv.tv_usec) * 1e-6
end

local function split(text)
  local out = {}
  for part in string.gmatch(text or "", "[^,]+") do
    out[#out + 1] = part
  end
  return out
end

-- setup and done run in their own Lua state ------------------------------------------------

local threads = {}

function setup(thread)
  local n = #threads + 1
  thread:set("tid", n)
  table.insert(threads, thread)
end

-- the running phase: one state per thread --------------------------------------------------

local MODE = os.getenv("BENCH_MODE") or "load"
local API = os.getenv("BENCH_API") or "native"
local BATCH = tonumber(os.getenv("BENCH_BATCH") or "1")
local NONCE = tonumber(os.getenv("BENCH_NONCE") or "0")
local BASE = tonumber(os.getenv("BENCH_BASE") or "0")
local DEADLINE = tonumber(os.getenv("BENCH_DEADLINE") or "0")
local MARKS = os.getenv("BENCH_MARKS")
local INTERVAL = 10

local headers = { ["Content-Type"] = "application/json" }
do
  local name, value = string.match(os.getenv("BENCH_HEADER") or "", "^([^:]+):%s*(.*)$")
  if name then
    headers[name] = value
  end
end

-- Globals, not locals: done() reads them with thread:get().
target, path, limit = nil, nil, 0
sent, done_requests, ok, bad = 0, 0, 0, 0
accepted, duplicates = 0, 0
first_error = nil
started, finished = nil, nil

function init(args)
  local targets = split(os.getenv("BENCH_TARGETS"))
  target = targets[tid]
  if API == "native" then
    path = target
  else
    path = os.getenv("BENCH_PATH")
  end
  if MODE == "resend" then
    limit = tonumber(split(os.getenv("BENCH_COUNTS"))[tid] or "0")
  end
end

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

local function uuid_of(k)
  -- version 4 and RFC 4122 variant bits, so the hub's UUID parser takes it as is
  return string.format("%08x-%04x-4000-8000-%012x", NONCE, tid, k)
end

local function energies(k)
  local cpu = 0.0001 + (k % 7) * 0.000001
  local gpu = 0.0008 + (k % 11) * 0.00001
  local ram = 0.00001
  return cpu, gpu, ram
end

local ITEM = '{"uuid":"%s","seq":%d,"node":"bench-%d","rank":0,"start":"%s","end":"%s",'
  .. '"duration_s":%d,"cpu_energy_kwh":%.9g,"gpu_energy_kwh":%.9g,"ram_energy_kwh":%.9g,'
  .. '"cpu_power_w":%.6g,"gpu_power_w":%.6g,"ram_power_w":3.6,"cpu_method":"rapl",'
  .. '"gpu_method":"nvml_energy","ram_method":"constant","gpu_count":1}'

local function native_body(j)
  local parts = {}
  local first = j * BATCH
  for i = 0, BATCH - 1 do
    local k = first + i
    local start = BASE + k * INTERVAL
    local cpu, gpu, ram = energies(k)
    parts[i + 1] = string.format(
      ITEM, uuid_of(k), k, tid, iso(start), iso(start + INTERVAL), INTERVAL, cpu, gpu, ram,
      cpu * 360000.0, gpu * 360000.0
    )
  end
  return '{"measurements":[' .. table.concat(parts, ",") .. "]}"
end

local INTERVAL_BODY = '{"run_id":"%s","timestamp":"%s","duration":%d,"emissions_sum":%.9g,'
  .. '"emissions_rate":%.9g,"cpu_power":%.6g,"gpu_power":%.6g,"ram_power":3.6,'
  .. '"cpu_energy":%.9g,"gpu_energy":%.9g,"ram_energy":%.9g,"energy_consumed":%.9g,'
  .. '"cpu_utilization_percent":50.0,"gpu_utilization_percent":90.0,'
  .. '"ram_utilization_percent":30.0}'

local function codecarbon_body(j)
  local cpu, gpu, ram = energies(j)
  local energy = cpu + gpu + ram
  local kg = energy * 0.056
  return string.format(
    INTERVAL_BODY, target, iso(BASE + (j + 1) * INTERVAL), INTERVAL, kg, kg / INTERVAL,
    cpu * 360000.0, gpu * 360000.0, cpu, gpu, ram, energy
  )
end

-- Request j of a thread is built once the answer to request j-1 is in, so j is the count of
-- answers. wrk calls request() once more before the threads start, to check the script;
-- that body is built again for the first real request (and a request lost to a socket
-- error is rebuilt the same), so no measurement is skipped.
function request()
  if done_requests == 0 then
    started = now()
  end
  local body
  if API == "native" then
    body = native_body(done_requests)
  else
    body = codecarbon_body(done_requests)
  end
  sent = sent + 1
  return wrk.format("POST", path, headers, body)
end

local function stop()
  finished = now()
  if MARKS then
    local f = io.open(MARKS .. "/" .. tid, "w")
    if f then
      f:write("stopped\n")
      f:close()
    end
  end
  wrk.thread:stop()
end

function response(status, hdrs, body)
  done_requests = done_requests + 1
  if status >= 200 and status < 300 then
    ok = ok + 1
    if MODE == "resend" then
      local a = string.match(body, '"accepted":%s*(%d+)')
      local d = string.match(body, '"duplicates":%s*(%d+)')
      accepted = accepted + tonumber(a or "0")
      duplicates = duplicates + tonumber(d or "0")
    end
  else
    bad = bad + 1
    if first_error == nil then
      first_error = tostring(status) .. " " .. string.sub(body or "", 1, 400)
    end
  end
  if MODE == "resend" then
    if done_requests >= limit then
      stop()
    end
  elseif now() >= DEADLINE then
    stop()
  end
end

-- the summary, in the setup state ----------------------------------------------------------

local function json_string(s)
  s = string.gsub(s, '[%c"\\]', function(c)
    return string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local rows = {}
  for _, t in ipairs(threads) do
    local err = t:get("first_error")
    rows[#rows + 1] = string.format(
      '{"tid":%d,"sent":%d,"answered":%d,"ok":%d,"bad":%d,"accepted":%d,"duplicates":%d,'
        .. '"started":%.6f,"finished":%.6f,"first_error":%s}',
      t:get("tid"), t:get("sent"), t:get("done_requests"), t:get("ok"), t:get("bad"),
      t:get("accepted"), t:get("duplicates"), t:get("started") or 0, t:get("finished") or 0,
      err and json_string(err) or "null"
    )
  end
  local e = summary.errors
  local out = string.format(
    '{"threads":[%s],"requests":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,'
      .. '"timeout":%d},"latency_us":{"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d}}',
    table.concat(rows, ","), summary.requests, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50.0), latency:percentile(90.0),
    latency:percentile(99.0)
  )
  local f = assert(io.open(os.getenv("BENCH_OUT"), "w"))
  f:write(out)
  f:close()
end
