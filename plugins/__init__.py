"""Built-in capabilities. Each module listed here is an ordinary pluggy plugin, registered
before third-party ones (and with ``trylast`` hooks, so a third-party plugin can override)."""

DEFAULT_PLUGINS = (
    "muselink.plugins.debug",
    "muselink.plugins.style_fast",
    "muselink.plugins.music",
    "muselink.plugins.hosts",
    "muselink.plugins.diffusion",
    "muselink.plugins.vgg",
    "muselink.plugins.imagetools",
    "muselink.plugins.text",
)
