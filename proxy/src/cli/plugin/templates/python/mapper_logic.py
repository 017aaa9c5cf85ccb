"""The mapper's header rewrite, free of the generated bindings so that tests can import it."""


def marked(headers, plugin):
    """(name, values) pairs: the headers without `x-mapped-by`, then `x-mapped-by: plugin`."""
    kept = [(h.name, h.values) for h in headers if h.name != "x-mapped-by"]
    return kept + [("x-mapped-by", [plugin])]
