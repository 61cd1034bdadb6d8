-- Headless Ardour session: a MIDI track with Cadenza (VST3) followed by a probe; roll, stop, count.
local dir = os.getenv("CADENZA_ARDOUR_DIR")
AudioEngine:set_backend("None (Dummy)", "", "")
local s = create_session(dir .. "/session", "cadenza", 48000)
assert(s, "could not create a session")
local tl = Session:new_midi_track(ARDOUR.ChanCount(ARDOUR.DataType("midi"), 1), ARDOUR.ChanCount(ARDOUR.DataType("midi"), 1), true, ARDOUR.PluginInfo(), nil, nil, 1, "Cadenza", ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true)
local track = tl:front()
local cadenza = ARDOUR.LuaAPI.new_plugin(Session, "Cadenza", ARDOUR.PluginType.VST3, "")
assert(not cadenza:isnil(), "Cadenza (VST3) not found by Ardour")
assert(track:add_processor_by_index(cadenza, 0, nil, true), "could not add Cadenza")
local source = ARDOUR.LuaAPI.new_plugin(Session, "Cadenza Source", ARDOUR.PluginType.Lua, "")
assert(not source:isnil(), "source script not found")
assert(track:add_processor_by_index(source, 0, nil, true), "could not add the source")
local probe = ARDOUR.LuaAPI.new_plugin(Session, "Cadenza Probe", ARDOUR.PluginType.Lua, "")
assert(not probe:isnil(), "probe script not found")
assert(track:add_processor_by_index(probe, 2, nil, true), "could not add the probe")
print("CADENZA_LOADED")
-- Parameters the user set (plain values; index 6: Scale, 20: Seed, in Cadenza's parameter order (params.rs: Mode, Role, Style, …)) must
-- come back when the session is reopened.
assert(ARDOUR.LuaAPI.set_processor_param(cadenza, 6, 3), "could not set Scale")
assert(ARDOUR.LuaAPI.set_processor_param(cadenza, 20, 1234), "could not set Seed")
Session:request_roll(ARDOUR.TransportRequestSource.TRS_UI)
for i = 1, 8 do ARDOUR.LuaAPI.usleep(1000000); print(string.format("CADENZA_ROLL t=%d rolling=%s sample=%d", i, tostring(Session:transport_rolling()), Session:transport_sample())) end
Session:request_stop(false, false, ARDOUR.TransportRequestSource.TRS_UI)
ARDOUR.LuaAPI.usleep(1000000)
local shm = probe:to_insert():plugin(0):to_luaproc():shmem()
print(string.format("CADENZA_PLAYER on=%d off=%d", shm:atomic_get_int(2), shm:atomic_get_int(3)))
local open = 0
for k = 0, 127 do open = open + shm:atomic_get_int(4 + k) end
print(string.format("CADENZA_NOTES on=%d off=%d open=%d", shm:atomic_get_int(0), shm:atomic_get_int(1), open))
local function params(p)
  local scale = ARDOUR.LuaAPI.get_processor_param(p, 6, true)
  local seed = ARDOUR.LuaAPI.get_processor_param(p, 20, true)
  return scale, seed
end
local scale, seed = params(cadenza)
Session:save_state("")
-- What the reopen check (reopen.lua, run.sh --reopen) compares against.
local f = assert(io.open(dir .. "/before.txt", "w"))
f:write(string.format("%.1f,%.1f\n", scale, seed))
f:close()
close_session()
quit()
