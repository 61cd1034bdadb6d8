-- The saved session opened again in a new ardour7-lua process, as a musician opens a project the next
-- day: Cadenza's parameters set before saving (Scale, Seed) must come back.
-- (Closing and reopening inside one process crashes ardour7-lua 7.3 about half the time, in its own
-- AudioEngine::start -> Graph::reset_thread_list on the closed session's graph; see issue #6.)
local dir = os.getenv("CADENZA_ARDOUR_DIR")
AudioEngine:set_backend("None (Dummy)", "", "")
local s = load_session(dir .. "/session", "cadenza")
assert(s, "could not open the saved session")
local route = Session:route_by_name("Cadenza")
assert(not route:isnil(), "the Cadenza track is gone")
-- Processors in order: the source (0), Cadenza (1), the probe.
local cadenza = route:nth_plugin(1)
assert(not cadenza:isnil(), "Cadenza is gone from the reopened session")
local scale = ARDOUR.LuaAPI.get_processor_param(cadenza, 6, true)
local seed = ARDOUR.LuaAPI.get_processor_param(cadenza, 20, true)
-- Closing a reopened session hangs ardour7-lua 7.3 here, and an immediate exit loses buffered
-- output: the result goes to a file, then we leave.
local f = assert(io.open(dir .. "/after.txt", "w"))
f:write(string.format("%.1f,%.1f\n", scale, seed))
f:close()
print("CADENZA_REOPEN_DONE")
-- Stop the process thread before leaving: exiting under it crashes ardour7-lua in its own tempo map
-- lookup (VST3Plugin::connect_and_run -> TempoMap::metric_at) now and then.
AudioEngine:stop(false)
os.exit(0)
