-- bench/events_batch.lua - wrk script: POST /api/v1/events/batch with 100 new events per
-- request (ids unique per thread and request), for bench/events_http.sh.
local counter = 0
local threads = {}
tid = 0  -- global: setup() counts threads here, thread:set() gives each its own

function setup(thread)
    tid = tid + 1
    thread:set("tid", tid)
    table.insert(threads, thread)
end

function init(args)
    key = os.getenv("BENCH_KEY") or "bench-key"
    run = os.getenv("BENCH_RUN") or "r"
    prefix = string.format("%s-%d-", run, tid)
end

local models = { "gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "gemini-2.0-flash" }
local providers = { "openai", "openai", "anthropic", "google" }

request = function()
    counter = counter + 1
    local parts = {}
    for i = 1, 100 do
        local m = (counter + i) % 4 + 1
        local n = counter * 100 + i
        parts[i] = string.format(
            '{"id":"%s%d","model":"%s","provider":"%s","input_tokens":%d,"output_tokens":%d,'
                .. '"latency_ms":%d,"user_id":"u%d","trace_id":"%st%d","span_id":"s%d"%s}',
            prefix, n, models[m], providers[m], 200 + n % 1000, 50 + n % 300, 100 + n % 900,
            n % 500, prefix, math.floor(n / 8), n,
            (n % 8 ~= 0) and string.format(',"parent_event_id":"s%d"', n - 1) or "")
    end
    local body = '{"events":[' .. table.concat(parts, ",") .. "]}"
    return wrk.format("POST", "/api/v1/events/batch", {
        ["Authorization"] = "Bearer " .. key,
        ["Content-Type"] = "application/json",
    }, body)
end

local bad = 0
response = function(status, headers, body)
    if status ~= 200 then
        bad = bad + 1
    end
end

done = function(summary, latency, requests)
    local n = summary.requests - summary.errors.status
    io.write(string.format("batches_ok=%d events_ok=%d non200=%d duration_s=%.2f events_per_s=%.0f\n",
        n, n * 100, summary.errors.status, summary.duration / 1e6, n * 100 / (summary.duration / 1e6)))
    io.write(string.format("batch latency p50=%.1f ms p99=%.1f ms\n",
        latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
