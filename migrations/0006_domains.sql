-- Domains attached to apps, and their certificates.

CREATE TABLE domains (
    name           text PRIMARY KEY CHECK (name ~ '^[a-z0-9.-]{1,253}$'),
    app            text NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    tls            boolean NOT NULL DEFAULT false,
    hsts           boolean NOT NULL DEFAULT false,
    created_by     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    dns_ok         boolean,
    dns_detail     text,
    dns_checked_at timestamptz
);
CREATE INDEX domains_app ON domains (app);

-- What certbot last issued for a domain, and how its renewals go.
CREATE TABLE certificates (
    domain          text PRIMARY KEY REFERENCES domains (name) ON DELETE CASCADE,
    issuer          text,
    serial          text,
    not_before      timestamptz,
    not_after       timestamptz,
    issued_at       timestamptz,
    last_attempt_at timestamptz,
    last_error      text,
    failures        integer NOT NULL DEFAULT 0
);
