ardour {
	["type"]    = "dsp",
	name        = "Cadenza Source",
	category    = "Utility",
	license     = "MIT",
	author      = "Cadenza",
	description = [[Plays a short note every half second while the transport rolls (a stand-in player)]]
}

function dsp_ioconfig ()
	return { { midi_in = 1, midi_out = 1, audio_in = 0, audio_out = 0 }, }
end

local rate = 48000
local pos = 0
local keys = { 60, 64, 67, 72, 67, 64 }

function dsp_init (r)
	rate = r
	pos = 0
end

function dsp_run (_, _, n_samples)
	local cnt = 1
	for _, b in pairs (midiin) do
		midiout[cnt] = b
		cnt = cnt + 1
	end
	if not Session:transport_rolling () then return end
	local period = math.floor (rate / 2)
	for i = 0, n_samples - 1 do
		local t = pos + i
		local k = keys[(math.floor (t / period) % #keys) + 1]
		-- only in the first four seconds: then Cadenza plays on its own
		if t < 4 * rate and t % period == 0 then
			midiout[cnt] = { time = i + 1, data = { 0x91, k, 90 } }; cnt = cnt + 1
		elseif t < 4 * rate + period and t % period == math.floor (period / 2) then
			midiout[cnt] = { time = i + 1, data = { 0x81, k, 0 } }; cnt = cnt + 1
		end
	end
	pos = pos + n_samples
end
