"""muselink's DAW bridge: call and response over MIDI ports (started by ``muselink midi bridge``).

Same rooms as every add-on: ``host/`` (:mod:`.host.ports` opens MIDI ports, the one module using the
MIDI backend; :mod:`.host.adapter` captures phrases and plays answers), :mod:`.controller` (the
session glue: the bridge's host session driven by the real-time loop), and pure helpers
(:mod:`.timing`, :mod:`.phrase`, :mod:`.player`, :mod:`.notes`). Imports only the bridge and mido.
"""
