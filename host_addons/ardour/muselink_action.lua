ardour {
	["type"]    = "EditorAction",
	name        = "muselink: @ACTION@",
	author      = "muselink",
	license     = "MIT",
	description = [[@DESCRIPTION@

Select one or more MIDI regions first. The answer arrives as a new MIDI region on the same track,
right after the selection, named after what made it (capability and seed). The selected regions
stay as they are; one Ctrl+Z removes the answer. Needs the muselink daemon (`muselink serve`).
Ardour waits at most @TIMEOUT@ s for the answer.]]
}

-- muselink-ardour-action: written by `muselink install ardour`, removed by `muselink uninstall ardour`.

function factory () return function ()
	-- Ardour stores only this function, so everything it uses is defined inside it.
	local ACTION = "@ACTION@"
	local COMMAND = @COMMAND@ -- argv of the muselink command line
	local TIMEOUT = @TIMEOUT@ -- seconds; io.popen blocks Ardour's GUI, `muselink midi clip` gives up by then
	local TITLE = "muselink: " .. ACTION
	local TPB = 1920 -- Ardour ticks per quarter note
	local WINDOWS = package.config:sub (1, 1) == "\\"
	local Failure = {}

	local function fail (text) error (setmetatable ({ text = text }, Failure), 0) end

	local function show (text)
		LuaDialog.Message (TITLE, text, LuaDialog.MessageType.Error, LuaDialog.ButtonType.Close):run ()
	end

	local function ticks (beats) -- Temporal.Beats -> ticks (Ardour 7.3 has no Beats:to_ticks)
		local b, t = beats:str ():match ("^(%-?%d+):(%-?%d+)$")
		if not b then fail ("cannot read the time " .. beats:str ()) end
		return tonumber (b) * TPB + tonumber (t)
	end

	-- the time range selected in the editor, if any
	local function time_range ()
		local t = Editor:get_selection ().time
		if t and t:start_sample () < t:end_sample () then
			return Temporal.timepos_t (t:start_sample ()), Temporal.timepos_t (t:end_sample ())
		end
	end

	-- the selected MIDI regions (else those a selected time range touches on the selected tracks),
	-- one group per track, each in timeline order
	local function selection ()
		local sel = Editor:get_selection ()
		local picked = {}
		for r in sel.regions:regionlist ():iter () do picked[#picked + 1] = r end
		local from, to = time_range ()
		if #picked == 0 and from then
			for route in sel.tracks:routelist ():iter () do
				local track = route:to_track ()
				if not track:isnil () then
					for r in track:playlist ():regions_touched (from, to):iter () do picked[#picked + 1] = r end
				end
			end
		end
		local groups = {}
		for _, r in ipairs (picked) do
			if r:to_midiregion ():isnil () then
				fail ("'" .. r:name () .. "' is not a MIDI region.\nmuselink writes notes: select MIDI regions.")
			end
			local pl = r:playlist ()
			if pl:isnil () then fail ("'" .. r:name () .. "' is not on a track.") end
			local group = nil
			for _, g in ipairs (groups) do
				if g.playlist:sameinstance (pl) then group = g end
			end
			if not group then
				group = { playlist = pl, regions = {} }
				groups[#groups + 1] = group
			end
			table.insert (group.regions, r)
		end
		if #groups == 0 then
			fail ("Select one or more MIDI regions first (click a region; Ctrl+click adds more),\n"
				.. "or a time range on MIDI tracks.")
		end
		for _, g in ipairs (groups) do
			table.sort (g.regions, function (a, b) return a:position ():ticks () < b:position ():ticks () end)
		end
		return groups
	end

	-- a group's notes in ticks from the bar line at or before its first region, with its tempo and meter
	local function read_group (g)
		local tm = Temporal.TempoMap.read ()
		local first = g.regions[1]:position ()
		local bbt = tm:bbt_at (first)
		g.bpm = tm:tempo_at (first):quarter_notes_per_minute ()
		local meter = tm:meter_at (first)
		g.meter = { math.floor (meter:divisions_per_bar () + 0.5), math.floor (meter:note_value () + 0.5) }
		if Temporal.BBT_TIME then -- the bar line at or before the first region
			g.origin = ticks (tm:quarters_at_bbt (Temporal.BBT_TIME (bbt.bars, 1, 0)))
		else
			g.origin = first:ticks () - (bbt.beats - 1) * TPB * 4 // g.meter[2] - bbt.ticks
		end
		g.notes, g.clip = {}, { first:ticks () - g.origin, 0 }
		for _, r in ipairs (g.regions) do
			local pos = r:position ():ticks ()
			local stop = (r:position () + r:length ()):ticks ()
			local offset = r:start ():ticks () -- note times count from the start of the source, not the region
			for note in ARDOUR.LuaAPI.note_list (r:to_midiregion ():model ()):iter () do
				local t = ticks (note:time ()) - offset
				if t >= 0 and t < stop - pos then
					table.insert (g.notes, { pos + t - g.origin, ticks (note:length ()), note:note (), note:velocity (), note:channel () })
				end
			end
			if stop - g.origin > g.clip[2] then g.clip[2] = stop - g.origin; g.last = r end
		end
		if #g.notes == 0 then
			fail ("'" .. g.regions[1]:name () .. "' has no notes in it: muselink needs at least one note.")
		end
		table.sort (g.notes, function (a, b) return a[1] < b[1] or a[1] == b[1] and a[3] < b[3] end)
	end

	local function ask (g)
		local bar = TPB * 4 * g.meter[1] // g.meter[2]
		local first = g.clip[1] // bar + 1
		local last = math.max (first, math.ceil (g.clip[2] / bar))
		local lo, hi = last, last -- infill: the bars of the selected range, else the region's middle bars
		if last - first >= 2 then lo, hi = first + 1, last - 1 end
		local from, to = time_range ()
		if from and from:ticks () - g.origin < g.clip[2] and to:ticks () - g.origin > g.clip[1] then
			lo = math.max (first, (from:ticks () - g.origin) // bar + 1)
			hi = math.min (last, math.max (lo, math.ceil ((to:ticks () - g.origin) / bar)))
		end
		local fields = {
			continue = {
				{ type = "number", key = "bars", title = "Bars to add", min = 1, max = 32, step = 1, digits = 0, default = 2 },
			},
			infill = {
				{ type = "number", key = "from_bar", title = "First bar to redo", min = first, max = last, step = 1, digits = 0, default = lo },
				{ type = "number", key = "to_bar", title = "Last bar to redo", min = first, max = last, step = 1, digits = 0, default = hi },
			},
			variation = {
				{ type = "number", key = "similarity", title = "Similarity (share of notes kept)", min = 0, max = 1, step = 0.05, digits = 2, default = 0.5 },
			},
		}
		local dialog = fields[ACTION]
		table.insert (dialog, { type = "number", key = "temperature", title = "Temperature", min = 0, max = 2, step = 0.05, digits = 2, default = 0.9 })
		table.insert (dialog, { type = "number", key = "seed", title = "Seed (0 = random)", min = 0, max = 2147483647, step = 1, digits = 0, default = 0 })
		table.insert (dialog, { type = "label", title = "Ardour waits at most " .. TIMEOUT .. " s for the answer." })
		return LuaDialog.Dialog (TITLE, dialog):run ()
	end

	local function request (g, params)
		local notes = {}
		for _, n in ipairs (g.notes) do notes[#notes + 1] = string.format ("[%d, %d, %d, %d, %d]", n[1], n[2], n[3], n[4], n[5]) end
		local p = {}
		for _, key in ipairs ({ "bars", "from_bar", "to_bar", "seed" }) do
			if params[key] and not (key == "seed" and params[key] == 0) then
				p[#p + 1] = string.format ('"%s": %d', key, math.floor (params[key] + 0.5))
			end
		end
		for _, key in ipairs ({ "similarity", "temperature" }) do
			if params[key] then p[#p + 1] = string.format ('"%s": %.4f', key, params[key]) end
		end
		return string.format ('{"action": "%s", "notes": {"ppq": %d, "bpm": %.6f, "time_signature": [%d, %d], "notes": [%s]}, '
			.. '"clip": [%d, %d], "params": {%s}}', ACTION, TPB, g.bpm, g.meter[1], g.meter[2], table.concat (notes, ", "),
			g.clip[1], g.clip[2], table.concat (p, ", "))
	end

	local function quote (s)
		if WINDOWS then return '"' .. s:gsub ('"', '\\"') .. '"' end
		return "'" .. s:gsub ("'", "'\\''") .. "'"
	end

	-- run `muselink midi clip` on the request; returns the answer's text or fails with muselink's message
	local function call_muselink (text, started)
		if not (io and io.popen and os) then
			fail ("Ardour runs this script sandboxed (no io.popen), so it cannot reach muselink.\n"
				.. "Turn off the 'sandbox-all-lua-scripts' preference and restart Ardour.")
		end
		local left = TIMEOUT - (ARDOUR.LuaAPI.monotonic_time () - started) / 1e6
		if left < 2 then fail ("muselink took longer than " .. TIMEOUT .. " s in all; nothing was added.") end
		local dir = os.getenv ("TMPDIR") or os.getenv ("TEMP") or "/tmp"
		local base = ARDOUR.LuaAPI.build_filename (dir, string.format ("muselink-ardour-%d-%d", os.time (), math.random (1, 1000000000)))
		local req, ans = base .. ".json", base .. ".answer.json"
		local f = io.open (req, "w")
		if not f then fail ("cannot write " .. req) end
		f:write (text)
		f:close ()
		local argv = {}
		for _, a in ipairs (COMMAND) do argv[#argv + 1] = quote (a) end
		local line = table.concat (argv, " ") .. " midi clip " .. quote (req) .. " -o " .. quote (ans)
			.. " --timeout 3 --deadline " .. string.format ("%.1f", left) .. " 2>&1"
		if WINDOWS then line = '"' .. line .. '"' end
		local p = io.popen (line)
		local output = p and p:read ("a") or ""
		local ok = p and p:close ()
		local a = io.open (ans, "r")
		local answer = a and a:read ("a")
		if a then a:close () end
		os.remove (req)
		os.remove (ans)
		if not ok or not answer then
			output = (output:gsub ("muselink midi: error: ", ""))
			if output == "" then output = "cannot run " .. COMMAND[1] .. " (reinstall with `muselink install ardour`)" end
			fail ("muselink could not answer:\n" .. output)
		end
		return answer
	end

	local function parse (text)
		local a = { notes = {}, name = text:match ('"name": "([^"]*)"'), start = tonumber (text:match ('"start": (%-?%d+)')),
			stop = tonumber (text:match ('"end": (%-?%d+)')), at = tonumber (text:match ('"at": (%-?%d+)')) }
		for s, d, p, v, c in text:gmatch ("%[(%-?%d+), (%d+), (%d+), (%d+), (%d+)%]") do
			a.notes[#a.notes + 1] = { tonumber (s), tonumber (d), tonumber (p), tonumber (v), tonumber (c) }
		end
		if not (a.name and a.start and a.stop and a.at) then fail ("muselink's answer could not be read:\n" .. text:sub (1, 300)) end
		if #a.notes == 0 then fail ("The model answered with silence (no notes); try another seed.") end
		return a
	end

	-- a copy of the group's last region with its own new source, holding the answer's notes
	local function answer_region (g, a)
		local copy = ARDOUR.RegionFactory.clone_region (g.last, true, true):to_midiregion ()
		local model = copy:model ()
		local cmd = model:new_note_diff_command (TITLE .. " (notes)")
		for note in ARDOUR.LuaAPI.note_list (model):iter () do cmd:remove (note) end
		local base = copy:start ():ticks ()
		for _, n in ipairs (a.notes) do
			cmd:add (ARDOUR.LuaAPI.new_noteptr (n[5], Temporal.Beats.ticks (base + n[1] - a.start), Temporal.Beats.ticks (n[2]), n[3], n[4]))
		end
		-- its own undo step, on a region no playlist shows yet (apply_command inside the step below would
		-- cancel both); the step below is the visible one
		model:apply_command (Session, cmd)
		copy:set_name (a.name)
		return copy
	end

	local function main ()
		local groups = selection ()
		for _, g in ipairs (groups) do read_group (g) end
		local params = ask (groups[1])
		if not params then return nil end
		local started = ARDOUR.LuaAPI.monotonic_time () -- all calls together stay within TIMEOUT
		local answers = {}
		for i, g in ipairs (groups) do answers[i] = parse (call_muselink (request (g, params), started)) end
		local regions = {}
		for i, g in ipairs (groups) do regions[i] = answer_region (g, answers[i]) end
		local undo = {}
		Session:begin_reversible_command (TITLE)
		for i, g in ipairs (groups) do
			local at = Temporal.timepos_t.from_ticks (g.origin + answers[i].at)
			regions[i]:set_position (at) -- add_region alone may leave it where the copy was
			regions[i]:set_length (Temporal.timecnt_t.from_ticks (answers[i].stop - answers[i].start, at))
			g.playlist:to_stateful ():clear_changes ()
			g.playlist:add_region (regions[i], at, 1, false) -- adds a copy, sharing the answer's new source
			undo[i] = Session:add_stateful_diff_command (g.playlist:to_statefuldestructible ())
		end
		Session:commit_reversible_command (nil)
		return { answers = answers, regions = regions, undo = undo }
	end

	local ok, result = pcall (main)
	if ok then return result end
	if getmetatable (result) == Failure then show (result.text) else show ("muselink stopped: " .. tostring (result)) end
	return nil
end end
