-- Shared by the wrk scripts of bench/run.py (loaded with dofile from each of them).
--
-- setup() numbers the threads (the global `id` in each thread, 0 .. threads-1) and keeps them
-- for done(), which prints one machine-readable line for the harness:
--   @@bench requests=N duration_us=N p50_us=N p99_us=N max_us=N connect=N read=N write=N
--           timeout=N unexpected=N statuses=CODE:COUNT,...
-- and, when an unexpected answer was seen, `@@sample <status> <first 200 bytes of its body>`.
-- A script that defines response() counts unexpected answers itself in the thread globals
-- `unexpected`, `statuses` and `sample`; otherwise unexpected = wrk's count of answers >= 400.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

unexpected = 0
status_counts = {}
statuses = ""
sample = ""

-- Count one answer other than `expected` (call from response()).
function count_unexpected(status, expected, body)
  if status == expected then
    return
  end
  unexpected = unexpected + 1
  status_counts[status] = (status_counts[status] or 0) + 1
  local parts = {}
  for code, count in pairs(status_counts) do
    table.insert(parts, code .. ":" .. count)
  end
  statuses = table.concat(parts, ",")
  if sample == "" then
    sample = status .. " " .. string.sub(body or "", 1, 200):gsub("[\r\n]", " ")
  end
end

function done(summary, latency, requests)
  local counted, merged, first_sample = 0, {}, ""
  for _, thread in ipairs(threads) do
    counted = counted + (thread:get("unexpected") or 0)
    local text = thread:get("statuses") or ""
    for code, count in string.gmatch(text, "(%d+):(%d+)") do
      merged[code] = (merged[code] or 0) + tonumber(count)
    end
    local thread_sample = thread:get("sample") or ""
    if first_sample == "" then
      first_sample = thread_sample
    end
  end
  if counting_responses then
    summary_unexpected = counted
  else
    summary_unexpected = summary.errors.status
  end
  local parts = {}
  for code, count in pairs(merged) do
    table.insert(parts, code .. ":" .. count)
  end
  io.write(string.format(
    "@@bench requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d connect=%d read=%d write=%d timeout=%d unexpected=%d statuses=%s\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    summary_unexpected, table.concat(parts, ",")
  ))
  if first_sample ~= "" then
    io.write("@@sample " .. first_sample .. "\n")
  end
end
