"""muselink inside Ardour: Lua action scripts (``muselink_action.lua``, rendered per action by
``muselink.plugins.hosts.ardour_installer``) that send the selected MIDI regions to ``muselink midi clip`` and put the answer
on the timeline as a new region."""
