"""muselink's Krita add-on: the pykrita plugin in ``muselink_krita/`` and its installer."""
