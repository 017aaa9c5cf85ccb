"""{{name}}: a Gatehouse WebSocket handler in Python.

It sends every message back to its sender and accepts every connection; logic.py, which the
tests import, decides what goes back.

componentize-py generates the `wit_world` package from wit/: the world's export is a method
of the class `WitWorld`; returning None sends nothing back.
"""

from typing import Optional

import logic
import wit_world
from wit_world.imports.websocket import Event, EventType


class WitWorld(wit_world.WitWorld):
    def handle_event(self, event: Event) -> Optional[bytes]:
        return logic.reply(event.event_type == EventType.MESSAGE, event.body)
