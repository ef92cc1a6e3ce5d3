-- One GitHub account for the server: its tokens, encrypted with the vault's key.
CREATE TABLE github_account (
    id             integer PRIMARY KEY CHECK (id = 1),
    login          text NOT NULL,
    token          text NOT NULL,
    refresh_token  text,
    expires_at     timestamptz,
    refresh_expires_at timestamptz,
    scope          text NOT NULL DEFAULT '',
    logged_in_by   text,
    logged_in_at   timestamptz NOT NULL DEFAULT now()
);
