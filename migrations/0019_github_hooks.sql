-- Apps that follow a GitHub repository, and every webhook delivery deployd received.
CREATE TABLE github_connections (
    app           text PRIMARY KEY REFERENCES apps (name) ON DELETE CASCADE,
    repo          text NOT NULL,
    branch        text NOT NULL,
    hook_id       bigint,
    hook_url      text NOT NULL,
    secret        text NOT NULL,            -- the webhook's HMAC secret, vault-encrypted
    previews      boolean NOT NULL DEFAULT false,
    preview_exclude text[] NOT NULL DEFAULT '{}',  -- variables previews are not given
    preview_of    text,                     -- a preview app: the app it previews
    pull_request  integer,                  -- and its pull request
    connected_by  text,
    connected_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX github_connections_repo ON github_connections (lower(repo));
CREATE UNIQUE INDEX github_connections_preview
    ON github_connections (preview_of, pull_request) WHERE preview_of IS NOT NULL;

CREATE TABLE github_deliveries (
    id            bigserial PRIMARY KEY,
    received_at   timestamptz NOT NULL DEFAULT now(),
    delivery      text NOT NULL,            -- X-GitHub-Delivery: one per event, kept on redelivery
    event         text NOT NULL,
    app           text,                     -- NULL: no app it could be for
    repo          text,
    verdict       text NOT NULL CHECK (verdict IN ('deployed', 'ignored', 'rejected', 'duplicate')),
    reason        text NOT NULL,
    size          integer NOT NULL DEFAULT 0,
    body_sha256   text,                     -- a signed body sent again under another id is a duplicate
    verified      boolean NOT NULL DEFAULT false,
    commit_sha    text,                     -- what a deploying delivery deploys
    target        text,                     -- the app it deploys (the app, or a preview of it)
    pull_request  integer,
    job_id        bigint,                   -- NULL while it waits for the app's current job
    deployment_id bigint,                   -- its GitHub deployment
    reported      text NOT NULL DEFAULT 'no' CHECK (reported IN ('no', 'pending', 'done', 'gave_up')),
    report_error  text,
    redeliver     boolean NOT NULL DEFAULT false  -- a redelivery was asked: act on it again
);
CREATE INDEX github_deliveries_app ON github_deliveries (app, id);
CREATE INDEX github_deliveries_delivery ON github_deliveries (app, delivery);
CREATE INDEX github_deliveries_body ON github_deliveries (app, body_sha256);
CREATE INDEX github_deliveries_open ON github_deliveries (id)
    WHERE verdict = 'deployed' AND reported <> 'done' AND reported <> 'gave_up';
