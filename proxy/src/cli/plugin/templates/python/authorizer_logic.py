"""The authorizer's decision, free of the generated bindings so that tests can import it."""


def first_value(headers, name):
    """The first value of header `name` (header names arrive lowercase), or None."""
    for h in headers:
        if h.name == name and h.values:
            return h.values[0]
    return None


def decide(token, expected):
    """"allow", "deny" or "unauthorized" for the token a request carries."""
    if not token:
        return "unauthorized"
    return "allow" if token == expected else "deny"
