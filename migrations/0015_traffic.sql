-- Request analytics from nginx's access logs: rollups per app per minute, hour and day in
-- place of the lines, the visitors of each day as salted hashes, and where the ingester is
-- in each log (saved in the transaction that saves what it read, so no line counts twice).

CREATE TABLE traffic (
    app        text NOT NULL,
    period     text NOT NULL CHECK (period IN ('minute', 'hour', 'day')),
    at         timestamptz NOT NULL,
    requests   bigint NOT NULL,
    bytes      bigint NOT NULL,
    statuses   jsonb NOT NULL,     -- {"200": count, ...}
    latency    integer[] NOT NULL, -- a histogram: counts per bucket of domain/traffic.BUCKETS
    paths      jsonb NOT NULL,     -- the top paths, the rest under "(other)"
    referrers  jsonb NOT NULL,
    agents     jsonb NOT NULL,
    visitors   integer NOT NULL,   -- distinct visitors seen in the period
    PRIMARY KEY (app, period, at)
);

-- A visitor is a hash of address and agent with the day's salt: no address is kept, and
-- a visitor cannot be followed from one day to the next once the salt is gone.
CREATE TABLE traffic_visitors (
    app      text NOT NULL,
    day      date NOT NULL,
    visitor  text NOT NULL,
    requests integer NOT NULL,
    PRIMARY KEY (app, day, visitor)
);

CREATE TABLE traffic_salts (
    day  date PRIMARY KEY,
    salt bytea NOT NULL
);

CREATE TABLE log_checkpoints (
    path       text PRIMARY KEY,
    app        text NOT NULL,
    device     bigint NOT NULL,
    inode      bigint NOT NULL,
    "offset"   bigint NOT NULL CHECK ("offset" >= 0),
    unparsed   bigint NOT NULL DEFAULT 0,
    internal   bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
