"""Host add-ons (Krita, Blender, MIDI/DAW) and the host-adapter contract they implement."""
