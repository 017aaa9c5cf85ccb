//! `gatehouse:plugin/config`: the plugin's own settings (`plugins.NAME.config`).

use crate::plugin::bindings::config::Host;
use crate::plugin::CallState;

impl Host for CallState {
    fn get(&mut self, name: String) -> Option<String> {
        self.config.get(&name).cloned()
    }
}
