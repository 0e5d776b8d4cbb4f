//! Resource plugins (`/kbs/v0/<plugin>/...`): the plugin trait, registry and `resource` plugin.
