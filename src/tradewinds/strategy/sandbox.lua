-- Trusted prelude of a strategy runtime. It runs once per LuaJIT state with the full standard
-- library, keeps what it needs in locals, and builds the sandbox a strategy runs in. Strategies
-- never see this file's locals: they get a fresh environment per evaluation whose only entries
-- are the read-only library proxies and API functions set up below.
--
-- Called with (create_indicator_on_host, config): the Python bridge that computes an indicator
-- over the whole dataset, and the limits. Returns the driver API table.
local create_indicator_on_host, config = ...

local ffi = require("ffi")
local jit = require("jit")
local debug_sethook, debug_getinfo = debug.sethook, debug.getinfo
local collectgarbage, load, setfenv = collectgarbage, load, setfenv
local setmetatable, getmetatable, rawget, rawset, rawequal = setmetatable, getmetatable, rawget, rawset, rawequal
local type, pcall, error, select, tostring, tonumber = type, pcall, error, select, tostring, tonumber
local next, pairs, ipairs, unpack, assert = next, pairs, ipairs, unpack, assert
local floor, huge = math.floor, math.huge
local str_find, str_match, str_gmatch, str_gsub = string.find, string.match, string.gmatch, string.gsub
local str_rep, str_format, str_sub, str_byte, str_len = string.rep, string.format, string.sub, string.byte, string.len
local tbl_concat = table.concat

ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } tw_timespec;
int clock_gettime(int clk_id, tw_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local timespec = ffi.new("tw_timespec")
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

local CHUNK_NAME = "=strategy"

-- Raise `msg` as an error located at the innermost line of the strategy on the call stack, so the
-- user sees "line N: ..." however deep inside the API the problem was found.
local function user_error(msg)
  for level = 2, 40 do
    local info = debug_getinfo(level, "Sl")
    if info == nil then break end
    if info.source == CHUNK_NAME and info.currentline and info.currentline > 0 then
      error("strategy:" .. info.currentline .. ": " .. msg, 0)
    end
  end
  error(msg, 0)
end
local MEMORY_LIMIT_BYTES = config.memory_bytes
local MEMORY_LIMIT_TEXT = config.memory_text
local PATTERN_BUDGET = config.pattern_budget
local LOG_LINES = config.log_lines
local LOG_LINE_CHARS = config.log_line_chars
local LOGS_PER_EVALUATION = config.logs_per_evaluation

-- Errors the sandbox raises to end an evaluation; a strategy's own pcall cannot swallow them.
local WARMUP, TIMEOUT = {}, {}
local function is_fatal(e)
  return rawequal(e, WARMUP) or rawequal(e, TIMEOUT) or e == "not enough memory"
end

---------------------------------------------------------------------------------------------------
-- Evaluation state shared by the API functions (upvalues, so the JIT sees plain locals).
local cur = 0 -- index of the candle being decided
local deadline = huge -- monotonic ms after which the count hook stops the strategy
local timeout_line = nil
local warmup_text = nil
local current_params = {}
local current_position = "short"
local log_sink = nil -- function(text) set by the driver
local logs_this_evaluation = 0

---------------------------------------------------------------------------------------------------
-- Read-only views of the libraries. A proxy is an empty table whose metatable forwards reads:
-- assignments fail, rawset refuses it, and its metatable cannot be read or replaced.
local protected = setmetatable({}, { __mode = "k" })
local function readonly(t, name)
  local proxy = setmetatable({}, {
    __index = t,
    __newindex = function(_, key)
      user_error(name .. " is read-only (cannot set " .. tostring(key) .. ")")
    end,
    __metatable = false,
  })
  protected[proxy] = true
  return proxy
end

-- Cost bound for Lua patterns: matching runs in C where no hook fires, and backtracking over q
-- unbounded quantifiers can take (n+1)^(q+1) steps on an n-character subject.
local function pattern_quantifiers(p)
  local q, i, n = 0, 1, #p
  if str_sub(p, 1, 1) == "^" then i = 2 end
  while i <= n do
    local c = str_sub(p, i, i)
    local item_end
    if c == "%" then
      local d = str_sub(p, i + 1, i + 1)
      if d == "b" then
        item_end = i + 3
      elseif d == "f" then
        local close = str_find(p, "]", i + 4, true) or n
        i = close + 1
        item_end = nil
      else
        item_end = i + 1
      end
    elseif c == "[" then
      local j = i + 1
      if str_sub(p, j, j) == "^" then j = j + 1 end
      if str_sub(p, j, j) == "]" then j = j + 1 end
      while j <= n and str_sub(p, j, j) ~= "]" do
        if str_sub(p, j, j) == "%" then j = j + 1 end
        j = j + 1
      end
      item_end = j
    elseif c == "(" or c == ")" then
      i = i + 1
      item_end = nil
    else
      item_end = i
    end
    if item_end then
      local nxt = str_sub(p, item_end + 1, item_end + 1)
      if nxt == "*" or nxt == "+" or nxt == "-" then
        q = q + 1
        i = item_end + 2
      else
        i = item_end + 1
      end
    end
  end
  return q
end

local function guard_pattern(fname, s, p)
  if type(s) ~= "string" and type(s) ~= "number" then return end
  if type(p) ~= "string" and type(p) ~= "number" then return end
  s, p = tostring(s), tostring(p)
  local q = pattern_quantifiers(p)
  if q > 0 and (#s + 1) ^ (q + 1) > PATTERN_BUDGET then
    user_error(str_format(
      "time limit: string.%s with a pattern of %d repetition items on a %d-character string could run "
        .. "far past the time limit; simplify the pattern or shorten the string", fname, q, #s))
  end
end

local safe_string = {}
for k, v in pairs(string) do safe_string[k] = v end
safe_string.dump = nil
safe_string.find = function(s, p, init, plain)
  if not plain then guard_pattern("find", s, p) end
  return str_find(s, p, init, plain)
end
safe_string.match = function(s, p, init)
  guard_pattern("match", s, p)
  return str_match(s, p, init)
end
safe_string.gmatch = function(s, p)
  guard_pattern("gmatch", s, p)
  return str_gmatch(s, p)
end
safe_string.gsub = function(s, p, r, n)
  guard_pattern("gsub", s, p)
  return str_gsub(s, p, r, n)
end
safe_string.rep = function(s, n, sep)
  if (type(s) == "string" or type(s) == "number") and type(n) == "number" then
    local size = #tostring(s) * n
    if sep ~= nil and (type(sep) == "string" or type(sep) == "number") and n > 1 then
      size = size + #tostring(sep) * (n - 1)
    end
    if size > MEMORY_LIMIT_BYTES then
      user_error(str_format("memory limit: string.rep would build a string of %.0f bytes (limit %s)",
        size, MEMORY_LIMIT_TEXT))
    end
  end
  return str_rep(s, n, sep)
end

-- Strings share one metatable whose __index is the real string table: make that table the safe
-- one (no dump, guarded patterns) and hide the metatable itself.
do
  local string_mt = getmetatable("")
  local real = string_mt.__index
  for k in pairs(real) do real[k] = nil end
  for k, v in pairs(safe_string) do real[k] = v end
  string_mt.__metatable = false
end

local safe_math = {}
for k, v in pairs(math) do safe_math[k] = v end
-- A strategy must decide the same way in a backtest and live: no randomness.
safe_math.random, safe_math.randomseed = nil, nil

local safe_table = {
  insert = table.insert,
  remove = table.remove,
  concat = table.concat,
  sort = table.sort,
  unpack = unpack,
  maxn = table.maxn,
}

local function safe_rawset(t, k, v)
  if protected[t] then user_error("cannot rawset a protected table") end
  return rawset(t, k, v)
end

local function rethrow_fatal(ok, ...)
  if not ok and is_fatal((...)) then error((...), 0) end
  return ok, ...
end
local function safe_pcall(f, ...)
  return rethrow_fatal(pcall(f, ...))
end

local function safe_getmetatable(v)
  if protected[v] then return false end
  return getmetatable(v)
end

---------------------------------------------------------------------------------------------------
-- Series: closures over one column of the dataset. s() / s(0) is the current candle's value,
-- s(1) the one before. Reading before the first defined value ends the evaluation as warming up.
-- Closures have no fields, so a strategy can call a series but never reach its pointer.
local series_info = setmetatable({}, { __mode = "k" }) -- series -> {id, name, first}

local function series_warmup(name, first, back)
  local needed = first + 1 + back
  if back > 0 then
    warmup_text = str_format("warming up: %s(%d) needs %d candles, has %d", name, back, needed, cur + 1)
  else
    warmup_text = str_format("warming up: %s needs %d candles, has %d", name, needed, cur + 1)
  end
  error(WARMUP, 0)
end

local function new_series(id, name, first, addr)
  local ptr = ffi.cast("const double*", addr)
  local s = function(back)
    if back == nil then
      if cur < first then series_warmup(name, first, 0) end
      return ptr[cur]
    end
    if type(back) ~= "number" or back < 0 or back ~= floor(back) then
      user_error(str_format("%s(n): n must be a whole number >= 0 (candles back), got %s", name, tostring(back)))
    end
    local i = cur - back
    if i < first then series_warmup(name, first, back) end
    return ptr[i]
  end
  series_info[s] = { id = id, name = name, first = first }
  return s
end

local function is_series(v)
  return series_info[v] ~= nil
end

local PRICE_NAMES = { "time", "open", "high", "low", "close", "volume" }
local price = {}

---------------------------------------------------------------------------------------------------
-- Indicators: computed once per dataset by the host, cached by source series and parameters.
local caches = {} -- name -> source -> p1 -> p2 -> p3 -> {series...}

local function create_indicator(name, src, p1, p2, p3)
  local result = { create_indicator_on_host(name, series_info[src].id, p1, p2, p3) }
  if result[1] == nil then user_error(result[2]) end
  local outputs = {}
  local k = 1
  while result[k] ~= nil do
    outputs[#outputs + 1] = new_series(result[k], result[k + 2], result[k + 3], result[k + 1])
    k = k + 4
  end
  return outputs
end

local function indicator_outputs(name, src, p1, p2, p3)
  local by_source = caches[name]
  local c = by_source[src]
  if c == nil then c = {}; by_source[src] = c end
  local k1, k2, k3 = p1 == nil and "" or p1, p2 == nil and "" or p2, p3 == nil and "" or p3
  local c1 = c[k1]
  if c1 == nil then c1 = {}; c[k1] = c1 end
  local c2 = c1[k2]
  if c2 == nil then c2 = {}; c1[k2] = c2 end
  local out = c2[k3]
  if out == nil then
    out = create_indicator(name, src, p1, p2, p3)
    c2[k3] = out
  end
  return out
end

-- `ta.NAME(params..., [source])`: up to three numeric parameters, then optionally a series.
local function split_arguments(name, has_source, a, b, c, d)
  local args = { a, b, c, d }
  local params, src = {}, nil
  for i = 1, 4 do
    local v = args[i]
    if v ~= nil and is_series(v) then
      if not has_source then
        user_error("ta." .. name .. " reads fixed price series and takes no source argument")
      end
      if src ~= nil or i ~= #params + 1 then
        user_error("ta." .. name .. ": give the numeric parameters first, then at most one source series")
      end
      src = v
    elseif v ~= nil then
      if src ~= nil then
        user_error("ta." .. name .. ": give the numeric parameters first, then at most one source series")
      end
      params[i] = v
    end
  end
  if params[4] ~= nil then user_error("ta." .. name .. " takes at most 3 parameters") end
  return src, params[1], params[2], params[3]
end

local fast_resets = {}

local function define_indicator(name, default_source, noutputs)
  caches[name] = {}
  local has_source = default_source ~= nil
  -- Calls with numbers only (the common case) hit `fast`, keyed by the first parameter, when the
  -- other two are absent; everything else goes through the nested caches.
  local fast, fast_default = {}, nil
  fast_resets[#fast_resets + 1] = function() fast, fast_default = {}, nil end
  local function resolve(a, b, c, d)
    local src = price[default_source or "close"]
    if d ~= nil or (a ~= nil and series_info[a]) or (b ~= nil and series_info[b]) or (c ~= nil and series_info[c]) then
      local s, p1, p2, p3 = split_arguments(name, has_source, a, b, c, d)
      return indicator_outputs(name, s or src, p1, p2, p3)
    end
    local out = indicator_outputs(name, src, a, b, c)
    if b == nil and c == nil then
      if a == nil then fast_default = out else fast[a] = out end
    end
    return out
  end
  local function lookup(a, b, c, d)
    if b == nil and c == nil and d == nil then
      local out
      if a == nil then out = fast_default else out = fast[a] end
      if out ~= nil then return out end
    end
    return resolve(a, b, c, d)
  end
  if noutputs == 1 then
    return function(a, b, c, d) return lookup(a, b, c, d)[1] end
  elseif noutputs == 2 then
    return function(a, b, c, d)
      local out = lookup(a, b, c, d)
      return out[1], out[2]
    end
  end
  return function(a, b, c, d)
    local out = lookup(a, b, c, d)
    return out[1], out[2], out[3]
  end
end

local ta = {}
for _, spec in ipairs(config.indicators) do
  ta[spec.name] = define_indicator(spec.name, spec.default_source, spec.noutputs)
end

local function value_of(x, back)
  if type(x) == "number" then return x end
  return x(back)
end

local function is_operand(v)
  return type(v) == "number" or is_series(v)
end

local function crossover(a, b)
  if not is_operand(a) or not is_operand(b) then
    user_error("crossover(a, b) expects two series (or a series and a number)")
  end
  return value_of(a, 0) > value_of(b, 0) and value_of(a, 1) <= value_of(b, 1)
end

local function crossunder(a, b)
  if not is_operand(a) or not is_operand(b) then
    user_error("crossunder(a, b) expects two series (or a series and a number)")
  end
  return value_of(a, 0) < value_of(b, 0) and value_of(a, 1) >= value_of(b, 1)
end

local function param(name, default)
  if type(name) ~= "string" then user_error("param(name, default): name must be a string") end
  local v = current_params[name]
  if v == nil then return default end
  if type(default) == "number" and type(v) ~= "number" then
    local n = tonumber(v)
    if n == nil then
      user_error(str_format("param %q must be a number, got %s", name, tostring(v)))
    end
    return n
  end
  return v
end

local function log(...)
  logs_this_evaluation = logs_this_evaluation + 1
  if logs_this_evaluation > LOGS_PER_EVALUATION or log_sink == nil then return end
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    local t = type(v)
    if t == "string" or t == "number" or t == "boolean" or t == "nil" then
      parts[i] = tostring(v)
    else
      parts[i] = t
    end
  end
  local text = tbl_concat(parts, " ")
  if #text > LOG_LINE_CHARS then text = str_sub(text, 1, LOG_LINE_CHARS) .. "..." end
  log_sink(text)
end

local function position()
  return current_position
end

---------------------------------------------------------------------------------------------------
-- The environment a strategy sees.
local base = {
  type = type, pairs = pairs, ipairs = ipairs, select = select, tostring = tostring,
  tonumber = tonumber, error = error, pcall = safe_pcall, assert = assert, next = next,
  setmetatable = setmetatable, getmetatable = safe_getmetatable, rawget = rawget,
  rawequal = rawequal, rawset = safe_rawset, unpack = unpack,
  math = readonly(safe_math, "math"),
  string = readonly(safe_string, "string"),
  table = readonly(safe_table, "table"),
  ta = readonly(ta, "ta"),
  crossover = crossover, crossunder = crossunder, param = param, log = log,
  print = log, position = position,
}
-- One environment table is reused for every evaluation: globals a strategy sets are recorded on
-- first assignment and cleared afterwards, so no state survives from one evaluation to the next
-- (live evaluations may run on any worker) without allocating a fresh table per candle.
local written, nwritten = {}, 0
local env = setmetatable({}, {
  __index = base,
  __newindex = function(t, k, v)
    nwritten = nwritten + 1
    written[nwritten] = k
    rawset(t, k, v)
  end,
  __metatable = false,
})
local function clear_env()
  for j = 1, nwritten do
    env[written[j]] = nil
    written[j] = nil
  end
  nwritten = 0
end

---------------------------------------------------------------------------------------------------
-- Compiling. `//` comment lines are rewritten by the host before this point.
local function compile(source)
  local chunk, err = load(source, CHUNK_NAME, "t")
  if chunk == nil then return false, err end
  return chunk, false
end

-- Point the price series at a new dataset (arrays of n doubles) and forget cached indicators.
local function set_prices(n, t, o, h, l, c, v)
  local addrs = { t, o, h, l, c, v }
  for id, name in ipairs(PRICE_NAMES) do
    price[name] = new_series(id, name, 0, addrs[id])
    base[name] = price[name]
  end
  for name in pairs(caches) do caches[name] = {} end
  for _, reset in ipairs(fast_resets) do reset() end
  cur = n - 1
end

local function describe_error(e)
  if rawequal(e, TIMEOUT) then
    local where = timeout_line and (" at line " .. timeout_line) or ""
    return "timeout", "time limit of " .. config.time_text .. " exceeded" .. where
  end
  if e == "not enough memory" then
    return "memory", "memory limit of " .. MEMORY_LIMIT_TEXT .. " exceeded"
  end
  local t = type(e)
  if t == "string" then return "error", e end
  if t == "number" then return "error", tostring(e) end
  return "error", "error raised with a " .. t .. " value"
end

local function check_result(r)
  if r == "long" then return 1 end
  if r == "short" then return -1 end
  if r == nil then return 0 end
  local shown = type(r) == "string" and str_format("%q", str_sub(r, 1, 40)) or ("a " .. type(r))
  error("the strategy returned " .. shown .. "; return \"long\", \"short\" or nil", 0)
end

---------------------------------------------------------------------------------------------------
-- History driver: runs the strategy at every candle of the dataset, JIT-compiled, with no hook.
-- The host process is killed by its supervisor if a candle takes too long (see history.py).
local function history_loop(chunk, start, n, decisions, progress, params)
  for i = start, n - 1 do
    cur = i
    progress[0] = i
    logs_this_evaluation = 0
    local r = chunk()
    if nwritten > 0 then clear_env() end
    if r == "long" then
      decisions[i] = 1
      current_position = "long"
    elseif r == "short" then
      decisions[i] = -1
      current_position = "short"
    elseif r == nil then
      decisions[i] = 0
    else
      check_result(r)
    end
  end
end

local function run_history(chunk, n, decisions_addr, progress_addr, params)
  local decisions = ffi.cast("int8_t*", decisions_addr)
  local progress = ffi.cast("int64_t*", progress_addr)
  current_params = params or {}
  current_position = "short"
  local logs = {}
  local log_count = 0
  log_sink = function(text)
    if log_count < LOG_LINES then
      log_count = log_count + 1
      logs[log_count] = { cur, text }
    end
  end
  local warmup_candles, last_warmup = 0, nil
  local i = 0
  setfenv(chunk, env)
  while i < n do
    logs_this_evaluation = 0
    local ok, err = pcall(history_loop, chunk, i, n, decisions, progress, params)
    clear_env()
    if ok then break end
    if rawequal(err, WARMUP) then
      decisions[cur] = 0
      warmup_candles = warmup_candles + 1
      last_warmup = warmup_text
      i = cur + 1
    else
      local kind, message = describe_error(err)
      return { ok = false, kind = kind, message = message, index = cur, logs = logs,
               warmup_candles = warmup_candles, warmup = last_warmup }
    end
  end
  return { ok = true, logs = logs, warmup_candles = warmup_candles, warmup = last_warmup }
end

---------------------------------------------------------------------------------------------------
-- Live driver: evaluates many strategies at the last candle of the dataset, with the count hook
-- enforcing the time limit (the JIT is off in live runtimes so the hook always fires).
local function on_count()
  if now_ms() > deadline then
    local info = debug_getinfo(2, "Sl")
    if info and info.source == CHUNK_NAME then timeout_line = info.currentline end
    error(TIMEOUT, 0)
  end
end

local live_cur = 0

local function evaluate_one(chunk, params, position_now, time_ms)
  cur = live_cur
  current_params = params
  current_position = position_now
  timeout_line = nil
  warmup_text = nil
  logs_this_evaluation = 0
  setfenv(chunk, env)
  deadline = now_ms() + time_ms
  local ok, r = pcall(chunk)
  deadline = huge
  clear_env()
  if ok then
    local ok2, d = pcall(check_result, r)
    if ok2 then return d end
    return nil, "error", d
  end
  if rawequal(r, WARMUP) then return nil, "warmup", warmup_text end
  local kind, message = describe_error(r)
  if kind == "memory" then collectgarbage() end
  return nil, kind, message
end

local live = {}

function live.start(n)
  live_cur = n - 1
  debug_sethook(on_count, "", config.hook_interval)
end

-- Evaluate strategies `ids` (1-based Lua array) from `chunks`/`params`/`positions` tables.
-- Writes decisions (1, -1, 0) into `out` and returns a table {index -> {kind, message}} for the
-- ones that did not decide plus their logs, and writes progress for the supervisor.
function live.evaluate(chunks, params, positions, ids, count, out_addr, progress_addr, time_ms)
  local out = ffi.cast("int8_t*", out_addr)
  local progress = ffi.cast("double*", progress_addr)
  local problems = {}
  local logs = {}
  for k = 1, count do
    local id = ids[k]
    progress[0] = k - 1
    progress[1] = now_ms()
    local lines = nil
    log_sink = function(text)
      if lines == nil then lines = {}; logs[k] = lines end
      lines[#lines + 1] = text
    end
    local d, kind, message = evaluate_one(chunks[id], params[id], positions[id] or "short", time_ms)
    if d == nil then
      out[k - 1] = 0
      problems[k] = { kind, message }
    else
      out[k - 1] = d
    end
  end
  progress[0] = count
  log_sink = nil
  return problems, logs
end

return {
  compile = compile,
  set_prices = set_prices,
  run_history = run_history,
  live = live,
  collect = function() collectgarbage() end,
  jit_off = function() jit.off() end,
}
