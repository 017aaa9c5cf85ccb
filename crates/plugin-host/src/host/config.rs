//! `gatehouse:plugin/config`: the plugin's own settings (`plugins.NAME.config`).

use crate::bindings::config::Host;
use crate::CallState;

impl Host for CallState {
    async fn get(&mut self, name: String) -> Option<String> {
        self.config.get(&name).cloned()
    }
}
