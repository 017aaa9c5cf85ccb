"""The integration's answer, free of the generated bindings so that tests can import it."""


def answer(greeting, plugin, method, path):
    """The body of the answer."""
    return f"{greeting} from {plugin}: {method} {path}\n"
