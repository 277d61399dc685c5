"""muselink's DAW bridge: call and response over MIDI ports, and MIDI-file workflows.

Only :mod:`.ports` opens MIDI ports (mido + python-rtmidi); :mod:`.timing`, :mod:`.phrase`,
:mod:`.player`, :mod:`.midifile`, :mod:`.adapter` and :mod:`.engine` are pure and unit-tested;
:mod:`.commands` adds ``muselink midi ...`` to the CLI.
"""
