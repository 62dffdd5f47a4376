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
local MESSAGE_CHARS = 500

-- Errors the sandbox raises to end an evaluation; a strategy's own pcall cannot swallow them.
local WARMUP, TIMEOUT, BAD_RESULT = {}, {}, {}
local bad_result_type, bad_result_value = nil, nil
local function is_fatal(e)
  return rawequal(e, WARMUP) or rawequal(e, TIMEOUT) or e == "not enough memory"
end

-- Text a strategy produced (log lines, error messages, returned strings) on its way to the host:
-- bounded, and valid UTF-8 (the host decodes it strictly), invalid bytes shown as "?".
local function clean_text(s, max)
  if #s > max then s = str_sub(s, 1, max) .. "..." end
  if not str_find(s, "[\128-\255]") then return s end
  local out, k, i, len = {}, 0, 1, #s
  while i <= len do
    local c = str_byte(s, i)
    local size = (c < 0x80 and 1) or (c >= 0xC2 and c <= 0xDF and 2) or (c >= 0xE0 and c <= 0xEF and 3)
      or (c >= 0xF0 and c <= 0xF4 and 4) or 0
    local ok = size > 0 and i + size - 1 <= len
    for j = i + 1, ok and i + size - 1 or 0 do
      local b = str_byte(s, j)
      if b < 0x80 or b > 0xBF then ok = false end
    end
    if ok and size >= 3 then -- overlong forms and surrogates, which strict decoders refuse
      local b = str_byte(s, i + 1)
      if (c == 0xE0 and b < 0xA0) or (c == 0xED and b > 0x9F) or (c == 0xF0 and b < 0x90) or (c == 0xF4 and b > 0x8F) then
        ok = false
      end
    end
    k = k + 1
    if ok then out[k] = str_sub(s, i, i + size - 1); i = i + size else out[k] = "?"; i = i + 1 end
  end
  return tbl_concat(out)
end

-- The closest of `names` to `word` by edit distance, if it is close enough to be a likely typo.
local function closest(word, names)
  if type(word) ~= "string" or #word > 40 then return nil end
  local best, best_d = nil, math.max(1, floor(#word / 3))
  for _, name in ipairs(names) do
    local prev = {}
    for j = 0, #name do prev[j] = j end
    for i = 1, #word do
      local row = { [0] = i }
      for j = 1, #name do
        local cost = str_byte(word, i) == str_byte(name, j) and 0 or 1
        row[j] = math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
      end
      prev = row
    end
    if prev[#name] <= best_d then best, best_d = name, prev[#name] end
  end
  return best
end

local function innermost_line()
  for level = 2, 60 do
    local info = debug_getinfo(level, "Sl")
    if info == nil then break end
    if info.source == CHUNK_NAME and info.currentline and info.currentline > 0 then return info.currentline end
  end
  return nil
end

-- xpcall handler: every message names the strategy's own line, never one of this file's. Errors
-- the Lua VM raises inside the sandbox's functions (an argument the API did not foresee) are moved
-- to the innermost strategy line on the stack. Fatal errors pass unchanged and unallocated.
local HOST_LOCATION = "^" .. str_gsub(config.host_chunk, "%p", "%%%0") .. ":%d+: "
local function relocate(e)
  if is_fatal(e) or rawequal(e, BAD_RESULT) then return e end
  if type(e) == "number" then e = tostring(e) end
  if type(e) ~= "string" then return "error raised with a " .. type(e) .. " value" end
  if str_sub(e, 1, 9) ~= "strategy:" then
    local host_end = select(2, str_find(e, HOST_LOCATION))
    if host_end then e = str_sub(e, host_end + 1) end
    local line = innermost_line()
    if line then e = "strategy:" .. line .. ": " .. e end
  end
  return clean_text(e, MESSAGE_CHARS)
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

-- Cost bounds for the library functions that run in C, where the time-limit hook cannot fire.
-- Work units are calibrated so that PATTERN_BUDGET (2e8 by default) is about 25 ms here.

-- Index just past the set that starts at p[i] == "[", read as Lua's matcher reads it.
local function class_end(p, i, n)
  local j = i + 1
  if str_sub(p, j, j) == "^" then j = j + 1 end
  repeat
    if j > n then return n + 1 end -- malformed: the matcher raises before any work
    local c = str_sub(p, j, j)
    j = j + 1
    if c == "%" then j = j + 1 end
  until str_sub(p, j, j) == "]"
  return j + 1
end

-- Counts the items that make backtracking multiply: repetitions (`*`, `+`, `-`), balanced
-- matches (`%b`, a scan to the end), back references (`%1`, a compare of a capture's length),
-- and optional items (`?`, two branches each).
local function pattern_items(p)
  local scans, optionals, i, n = 0, 0, 1, #p
  if str_sub(p, 1, 1) == "^" then i = 2 end
  while i <= n do
    local c = str_sub(p, i, i)
    local item_end = nil
    if c == "%" then
      local d = str_sub(p, i + 1, i + 1)
      if d == "b" then
        scans = scans + 1
        i = i + 4
      elseif d == "f" then
        i = class_end(p, i + 2, n)
      elseif str_find(d, "^%d$") then
        scans = scans + 1
        i = i + 2
      else
        item_end = i + 1
      end
    elseif c == "[" then
      item_end = class_end(p, i, n) - 1
    elseif c == "(" or c == ")" then
      i = i + 1
    else
      item_end = i
    end
    if item_end then
      local nxt = str_sub(p, item_end + 1, item_end + 1)
      if nxt == "*" or nxt == "+" or nxt == "-" then
        scans = scans + 1
        i = item_end + 2
      elseif nxt == "?" then
        optionals = optionals + 1
        i = item_end + 2
      else
        i = item_end + 1
      end
    end
  end
  return scans, optionals
end

local function refuse_c_work(what, advice)
  user_error("time limit: " .. what .. " could run far past the time limit in code that cannot be "
    .. "interrupted; " .. (advice or "simplify the pattern or shorten the string"))
end

local function guard_pattern(fname, s, p, plain)
  if type(s) ~= "string" and type(s) ~= "number" then return end
  if type(p) ~= "string" and type(p) ~= "number" then return end
  s, p = tostring(s), tostring(p)
  local n, m = #s + 1, #p + 1
  if plain or not str_find(p, "[%^%$%*%+%?%.%(%)%[%]%%%-]") then
    -- a literal search: at most one compare of the pattern per position, done with memcmp
    if n * m / 32 > PATTERN_BUDGET then
      refuse_c_work(str_format("string.%s of a %d-character text in a %d-character string", fname, #p, #s))
    end
    return
  end
  local scans, optionals = pattern_items(p)
  if n ^ (scans + 1) * 2 ^ optionals * m > PATTERN_BUDGET then
    refuse_c_work(str_format(
      "string.%s with a pattern of %d repetition, balance or back-reference items and %d optional items "
        .. "on a %d-character string", fname, scans, optionals, #s))
  end
end

local safe_string = {}
for k, v in pairs(string) do safe_string[k] = v end
safe_string.dump = nil
safe_string.find = function(s, p, init, plain)
  guard_pattern("find", s, p, plain)
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

local tbl_sort, log2 = table.sort, math.log(2)
local safe_table = {
  insert = table.insert,
  remove = table.remove,
  concat = table.concat,
  -- Without a Lua comparator (none, or a C function such as rawequal) the whole sort runs in C:
  -- n log n compares of about 100 work units each.
  sort = function(t, comp)
    local in_c = comp == nil or (type(comp) == "function" and debug_getinfo(comp, "S").what == "C")
    if in_c and type(t) == "table" then
      local n = #t
      if n > 1 and n * math.log(n) / log2 * 100 > PATTERN_BUDGET then
        refuse_c_work(str_format("table.sort of %d values without a comparison function", n),
          "sort fewer values")
      end
    end
    return tbl_sort(t, comp)
  end,
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

-- How a value looks in a message: never a heap address.
local function describe_value(v)
  local t = type(v)
  if t == "number" then
    if v ~= v then return "NaN" end
    if v == huge then return "infinity" end
    if v == -huge then return "-infinity" end
    return str_format("%.14g", v)
  end
  if t == "string" then return "the string " .. str_format("%q", clean_text(v, 40)) end
  if t == "nil" or t == "boolean" then return tostring(v) end
  if series_info[v] then return "a series" end
  return "a " .. t
end

local param_specs = {} -- indicator name -> {{name, minimum, integer, required}...}
for _, spec in ipairs(config.indicators) do
  local list = {}
  for _, p in ipairs(spec.params) do list[#list + 1] = p end
  param_specs[spec.name] = list
end

local function expected_parameters(name, specs)
  if #specs == 0 then return "ta." .. name .. " takes no parameters" end
  local names = {}
  for i, p in ipairs(specs) do names[i] = p.name end
  return str_format("ta.%s takes at most %d parameter%s (%s)", name, #specs, #specs > 1 and "s" or "",
    tbl_concat(names, ", "))
end

local function check_parameters(name, p1, p2, p3)
  local specs = param_specs[name]
  local given = { p1, p2, p3 }
  local count = (p3 ~= nil and 3) or (p2 ~= nil and 2) or (p1 ~= nil and 1) or 0
  if count > #specs then user_error(str_format("%s, got %d", expected_parameters(name, specs), count)) end
  for i, spec in ipairs(specs) do
    local v = given[i]
    if v == nil then
      if spec.required then
        user_error(str_format("ta.%s: %s is required, e.g. ta.%s(20)", name, spec.name, name))
      end
    elseif type(v) ~= "number" or v ~= v or v == huge or v == -huge or (spec.integer and v ~= floor(v)) then
      local kind = spec.integer and "a whole number of candles" or "a number"
      user_error(str_format("ta.%s: %s must be %s, got %s", name, spec.name, kind, describe_value(v)))
    elseif v < spec.minimum then
      local unit = spec.integer and (spec.minimum == 1 and " candle" or " candles") or ""
      user_error(str_format("ta.%s: %s must be at least %s%s, got %s", name, spec.name,
        describe_value(spec.minimum), unit, describe_value(v)))
    end
  end
end

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

local function cached(by_source, src, k1, k2, k3)
  local c = by_source[src]
  if c == nil then return nil end
  c = c[k1]
  if c == nil then return nil end
  c = c[k2]
  if c == nil then return nil end
  return c[k3]
end

local function indicator_outputs(name, src, p1, p2, p3)
  local by_source = caches[name]
  local k1, k2, k3 = p1 == nil and "" or p1, p2 == nil and "" or p2, p3 == nil and "" or p3
  local hit = cached(by_source, src, k1, k2, k3)
  if hit ~= nil then return hit end
  -- Checked before the parameters become cache keys (NaN cannot index a table).
  check_parameters(name, p1, p2, p3)
  local c = by_source[src]
  if c == nil then c = {}; by_source[src] = c end
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

local ta, indicator_names = {}, {}
for _, spec in ipairs(config.indicators) do
  ta[spec.name] = define_indicator(spec.name, spec.default_source, spec.noutputs)
  indicator_names[#indicator_names + 1] = spec.name
end
-- `ta.smaa(10)` is a typo, not a call of nil: say so, and which indicator was probably meant.
setmetatable(ta, {
  __index = function(_, key)
    local shown = type(key) == "string" and ("ta." .. clean_text(key, 40)) or ("ta[" .. describe_value(key) .. "]")
    local guess = closest(key, indicator_names)
    user_error("there is no indicator " .. shown .. (guess and ("; did you mean ta." .. guess .. "?") or
      "; see docs/strategies.md for the list"))
  end,
})

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
  log_sink(clean_text(tbl_concat(parts, " "), LOG_LINE_CHARS))
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
-- Globals a strategy sets never survive an evaluation (live evaluations may run on any worker).
-- Live, each evaluation gets a fresh environment table: nothing is recorded while the strategy
-- runs, so there is no bookkeeping a time-limit stop could interrupt. History runs reuse one table
-- (a fresh one per candle would cost the JIT loop), clearing what was written after each candle
-- and replacing the table when it grew, so its hash part holds no memory afterwards.
local live_env_mt = { __index = base, __metatable = false }
local written = false
local history_env_mt = {
  __index = base,
  __newindex = function(t, k, v)
    written = true
    rawset(t, k, v)
  end,
  __metatable = false,
}
local env = setmetatable({}, history_env_mt)
local function clear_env(chunk)
  local count = 0
  for k in next, env do
    rawset(env, k, nil)
    count = count + 1
  end
  written = false
  if count > 64 then
    env = setmetatable({}, history_env_mt)
    setfenv(chunk, env)
  end
end

---------------------------------------------------------------------------------------------------
-- Compiling. `//` comment lines are rewritten by the host before this point.
local function compile(source)
  local chunk, err = load(source, CHUNK_NAME, "t")
  if chunk == nil then return false, clean_text(err, MESSAGE_CHARS) end
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

-- What a strategy returned, when it is not a decision: its type, and the value itself when it
-- can be shown (the host words the message).
local function result_parts(r)
  local t = type(r)
  if t == "number" or t == "boolean" then return t, r end
  if t == "string" then return t, clean_text(r, 40) end
  return t, nil
end

---------------------------------------------------------------------------------------------------
-- History driver: runs the strategy at every candle of the dataset, JIT-compiled, with no hook.
-- The host process is killed by its supervisor if a candle takes too long (see history.py).
local function history_loop(chunk, start, n, decisions, progress)
  for i = start, n - 1 do
    cur = i
    progress[0] = i
    logs_this_evaluation = 0
    local r = chunk()
    if written then clear_env(chunk) end
    if r == "long" then
      decisions[i] = 1
      current_position = "long"
    elseif r == "short" then
      decisions[i] = -1
      current_position = "short"
    elseif r == nil then
      decisions[i] = 0
    else
      bad_result_type, bad_result_value = result_parts(r)
      error(BAD_RESULT, 0)
    end
  end
end

-- A candle that runs out of memory is decided again once after a full collection, with the
-- limit moved to what is live then (`rebase`): LuaJIT does not collect when an allocation fails,
-- so earlier candles' garbage must not count, and the verdict is the one a live evaluation (with
-- its own budget) would give. Checking memory after every candle instead would cost the JIT loop.
local function run_history(chunk, n, decisions_addr, progress_addr, params, rebase)
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
  local retried = -1
  env = setmetatable({}, history_env_mt)
  written = false
  setfenv(chunk, env)
  while i < n do
    logs_this_evaluation = 0
    local ok, err = xpcall(history_loop, relocate, chunk, i, n, decisions, progress)
    clear_env(chunk)
    if ok then break end
    if err == "not enough memory" and retried ~= cur then
      retried = cur
      while log_count > 0 and logs[log_count][1] == cur do
        logs[log_count] = nil
        log_count = log_count - 1
      end
      collectgarbage()
      rebase()
      i = cur
    elseif rawequal(err, WARMUP) then
      decisions[cur] = 0
      warmup_candles = warmup_candles + 1
      last_warmup = warmup_text
      i = cur + 1
    else
      -- Make room for the report: the strategy's garbage is not needed any more.
      collectgarbage()
      local failure = { ok = false, index = cur, logs = logs, warmup_candles = warmup_candles, warmup = last_warmup }
      if rawequal(err, BAD_RESULT) then
        failure.kind, failure.result_type, failure.result_value = "result", bad_result_type, bad_result_value
      elseif err == "not enough memory" then
        failure.kind = "memory"
      else
        failure.kind, failure.message = "error", err
      end
      return failure
    end
  end
  return { ok = true, logs = logs, warmup_candles = warmup_candles, warmup = last_warmup }
end

---------------------------------------------------------------------------------------------------
-- Live driver: evaluates one strategy at the last candle of the dataset per call, with the count
-- hook enforcing the time limit (the JIT is off in live runtimes so the hook always fires). The
-- host sets the memory limit just before the call and lifts it after, so nothing here may
-- allocate once the strategy has returned: results are constants, numbers and strings that exist.
local function on_count()
  if now_ms() > deadline then
    -- Disarmed before raising: the stop can reach nothing but the strategy, and the sandbox's own
    -- code after the strategy returns can never be interrupted by it.
    deadline = huge
    local info = debug_getinfo(2, "Sl")
    if info and info.source == CHUNK_NAME then timeout_line = info.currentline end
    error(TIMEOUT, 0)
  end
end

local live_cur = 0
local host_log = nil

local function evaluate_one(chunk, params, position_now, time_ms)
  cur = live_cur
  current_params = params
  current_position = position_now or "short"
  timeout_line = nil
  warmup_text = nil
  logs_this_evaluation = 0
  log_sink = host_log
  setfenv(chunk, setmetatable({}, live_env_mt))
  deadline = now_ms() + time_ms
  local ok, r = xpcall(chunk, relocate)
  deadline = huge
  if ok then
    if r == "long" then return 1 end
    if r == "short" then return -1 end
    if r == nil then return 0 end
    local parts_ok, t, v = pcall(result_parts, r)
    if not parts_ok then return "memory" end
    return "result", t, v
  end
  if rawequal(r, WARMUP) then return "warmup", warmup_text end
  if rawequal(r, TIMEOUT) then return "timeout", timeout_line end
  if r == "not enough memory" then return "memory" end
  return "error", r
end

local live = {}

-- `log` is the host's function that receives each log line of the strategy being evaluated.
function live.start(n, log)
  live_cur = n - 1
  host_log = log
  debug_sethook(on_count, "", config.hook_interval)
end

-- Returns 1 (long), -1 (short), 0 (nil: keep), or a problem: "warmup", text | "timeout", line |
-- "memory" | "error", text | "result", type, value.
live.evaluate_one = evaluate_one

-- Re-runs one candle of a history with the hook on, to find the line a killed run was stuck at.
function live.locate_timeout(chunk, index, params, position_now, time_ms)
  live_cur = index
  host_log = nil
  debug_sethook(on_count, "", config.hook_interval)
  local code, a = evaluate_one(chunk, params, position_now, time_ms)
  debug_sethook()
  if code == "timeout" then return a end
  return nil
end

return {
  compile = compile,
  set_prices = set_prices,
  run_history = run_history,
  live = live,
  collect = function() collectgarbage() end,
  jit_off = function() jit.off() end,
}
