"""The only code of the add-on that imports ``krita``: the adapter (capture, apply by output kind)
and the docker's registration. Everything outside this folder runs without Krita."""
