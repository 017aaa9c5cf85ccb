"""The handler's reply, free of the generated bindings so that tests can import it."""


def reply(is_message, body):
    """The message itself for a message; None (nothing) on connect and disconnect."""
    return bytes(body) if is_message else None
