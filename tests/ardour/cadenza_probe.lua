ardour {
	["type"]    = "dsp",
	name        = "Cadenza Probe",
	category    = "Utility",
	license     = "MIT",
	author      = "Cadenza",
	description = [[Counts the MIDI note-ons and note-offs passing through (shmem: Cadenza's ons, offs on channel 1; the player's ons, offs)]]
}

function dsp_ioconfig ()
	return { { midi_in = 1, midi_out = 1, audio_in = 0, audio_out = 0 }, }
end

function dsp_init (rate)
	-- 0,1: Cadenza's ons, offs; 2,3: the player's ons, offs; 4..131: Cadenza's keys sounding now
	self:shmem():allocate(132)
	for i = 0, 131 do self:shmem():atomic_set_int(i, 0) end
end

function dsp_run (_, _, n_samples)
	local cnt = 1
	for _, b in pairs (midiin) do
		midiout[cnt] = b
		cnt = cnt + 1
		local d = b["data"]
		local status = d[1] & 0xf0
		-- Cadenza plays on channel 1; the source (the "player") on channel 2
		local base = ((d[1] & 0x0f) == 0) and 0 or 2
		if status == 0x90 and d[3] > 0 then
			self:shmem():atomic_set_int(base, self:shmem():atomic_get_int(base) + 1)
			if base == 0 then self:shmem():atomic_set_int(4 + d[2], 1) end
		elseif status == 0x80 or (status == 0x90 and d[3] == 0) then
			self:shmem():atomic_set_int(base + 1, self:shmem():atomic_get_int(base + 1) + 1)
			if base == 0 then self:shmem():atomic_set_int(4 + d[2], 0) end
		end
	end
end
