"""The one error the domain raises: a rule was broken. Services turn it into `invalid`."""


class DomainError(ValueError):
    pass
