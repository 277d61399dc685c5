"""The MIDI add-on's host room: :mod:`.ports` is the only code touching the MIDI backend (mido's
rtmidi ports); :mod:`.adapter` implements the host hooks over the phrase recorder and the player."""
