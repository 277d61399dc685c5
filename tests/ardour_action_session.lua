-- Runs an installed muselink action script in headless Ardour (ardour7-lua) on a fresh session.
-- args: session dir, script file, scenario (midi | range | empty | audio), dialog answers "key=value,..."
-- The session: 100 bpm, 3/4, a MIDI track "melody" with one region "seed" at bar 2 (4 bars long) whose
-- source also holds a note before and a note after the region (they must not count). Editor and
-- LuaDialog do not exist headless: stand-ins give the script its selection and dialog answers and
-- print its messages. Snapshots: "before" (seed only), the session itself (after the action),
-- "undone" (after undoing the playlist changes the action returned).
local dir, script, scenario, answers = arg[1], arg[2], arg[3], arg[4] or ""
local TPB = 1920
local s = create_session (dir, "clip", 48000)
assert (s, "create_session failed")

local tmw = Temporal.TempoMap.write_copy ()
tmw:set_tempo (Temporal.Tempo (100, 100, 4), Temporal.timepos_t (0))
tmw:set_meter (Temporal.Meter (3, 4), Temporal.timepos_t (0))
Temporal.TempoMap.update (tmw)

local midi = ARDOUR.DataType ("midi")
local track = s:new_midi_track (ARDOUR.ChanCount (midi, 1), ARDOUR.ChanCount (midi, 1), false, ARDOUR.PluginInfo (),
	nil, nil, 1, "melody", ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, false, false):front ()
-- 7.3 has no call that makes an empty MIDI region; bouncing an empty range of a MIDI track gives one
local seed = track:bounce_range (0, 48000, ARDOUR.InterThreadInfo (), track:main_outs (), false, "seed"):to_midiregion ()
local model = seed:model ()
local cmd = model:new_note_diff_command ("seed notes")
-- source beats: a note at 0 (before the region), the melody from beat 1, a note after the region's end
local melody = { { 0, 1, 40 }, -- before
	{ 1, 1, 67 }, { 2, 1, 71 }, { 3, 1, 74 }, { 4, 2, 72 }, { 6, 1, 71 }, { 7, 0.5, 69 }, { 7.5, 0.5, 71 },
	{ 8, 1, 72 }, { 9, 1, 74 }, { 10, 1, 76 }, { 11, 2, 74 }, { 13, 1, 100 } } -- after
for _, n in ipairs (melody) do
	cmd:add (ARDOUR.LuaAPI.new_noteptr (0, Temporal.Beats.ticks (math.floor (n[1] * TPB)), Temporal.Beats.ticks (math.floor (n[2] * TPB)), n[3], 90))
end
model:apply_command (s, cmd)
-- the region covers source beats 1..13 and sits at bar 2 (beat 3 of the timeline)
local at = Temporal.timepos_t.from_ticks (2 * TPB)
seed:set_position (at)
seed:set_length (Temporal.timecnt_t.from_ticks (13 * TPB, at))
track:playlist ():add_region (seed, at, 1, false)
local function only_region (pl) for r in pl:region_list ():iter () do return r end end
seed = only_region (track:playlist ()):to_midiregion () -- the playlist holds a copy of what it was given
seed:trim_front (Temporal.timepos_t.from_ticks (3 * TPB))
print ("SEED", seed:position ():ticks (), (seed:position () + seed:length ()):ticks (), seed:start ():ticks ())

local picked, tracks, range = {}, {}, { 0, 0 }
if scenario == "midi" then picked = { seed } end
if scenario == "range" then -- no region selected: a time range inside bar 4 on the track (5.7 s to 6.6 s)
	tracks, range = { track }, { math.floor (5.7 * 48000), math.floor (6.6 * 48000) }
end
if scenario == "audio" then
	local audio = s:new_audio_track (1, 2, nil, 1, "voice", ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true):front ()
	local r = audio:bounce_range (0, 48000, ARDOUR.InterThreadInfo (), audio:main_outs (), false, "voice take")
	audio:playlist ():add_region (r, Temporal.timepos_t (0), 1, false)
	picked = { seed, only_region (audio:playlist ()) }
end
s:save_state ("before", false, false, false, false, false)

-- stand-ins for what only Ardour's GUI provides
local given = {}
for k, v in answers:gmatch ("([%w_]+)=([^,]+)") do given[k] = tonumber (v) end
local function list (items)
	return { iter = function ()
		local i = 0
		return function () i = i + 1; return items[i] end
	end }
end
Editor = { get_selection = function ()
	return { regions = { regionlist = function () return list (picked) end },
		tracks = { routelist = function () return list (tracks) end },
		time = { start_sample = function () return range[1] end, end_sample = function () return range[2] end } }
end }
LuaDialog = {
	MessageType = { Info = 0, Warning = 1, Question = 2, Error = 3 },
	ButtonType = { OK = 0, Close = 1, Cancel = 2, Yes_No = 3, OK_Cancel = 4 },
	Message = function (title, text, kind, buttons)
		return { run = function () print ("MESSAGE " .. title .. ": " .. text:gsub ("\n", " | ")); return 0 end }
	end,
	Dialog = function (title, fields)
		return { run = function ()
			local values = {}
			for _, f in ipairs (fields) do
				if f.key then
					print ("FIELD " .. f.key .. " " .. tostring (f.default) .. " " .. tostring (f.min) .. " " .. tostring (f.max))
					values[f.key] = given[f.key] or f.default
				end
			end
			return values
		end }
	end,
}
function ardour (info) print ("SCRIPT " .. info.name .. " " .. info["type"]) end

dofile (script)
local started = ARDOUR.LuaAPI.monotonic_time ()
local result = factory () ()
print (string.format ("ELAPSED %.3f", (ARDOUR.LuaAPI.monotonic_time () - started) / 1e6))
if result then
	for i, a in ipairs (result.answers) do
		print (string.format ("ANSWER %s|%d|%d|%d|%d", a.name, a.start, a.stop, a.at, #a.notes))
		local r = result.regions[i]
		print ("REGION " .. r:name () .. " " .. r:position ():ticks () .. " " .. (r:position () + r:length ()):ticks ())
	end
end
print ("REGIONS " .. track:playlist ():region_list ():size ())
s:save_state ("", false, false, false, false, false)
if result then
	for _, c in ipairs (result.undo) do c:undo () end
	print ("UNDONE " .. track:playlist ():region_list ():size ())
	s:save_state ("undone", false, false, false, false, false)
end
print ("DONE")
close_session ()
