"""The mapper's header edit, free of the generated bindings so that tests can import it."""


def header_edits(plugin):
    """(name, values) pairs, each replacing every value of its header: `x-mapped-by: plugin`."""
    return [("x-mapped-by", [plugin])]
