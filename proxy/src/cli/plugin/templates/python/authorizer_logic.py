"""The authorizer's decision, free of the generated bindings so that tests can import it."""


def decide(token, expected):
    """"allow", "deny" or "unauthorized" for the token a request carries."""
    if not token:
        return "unauthorized"
    return "allow" if token == expected else "deny"


def stage_pattern(method_arn):
    """The pattern of every method of the request's stage: its method ARN
    (`arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH`) cut after the stage, then `/*`.
    """
    return "/".join(method_arn.split("/")[:2]) + "/*"
