-- The host's and each app's use of the machine, a row a minute (the average of its
-- samples, taken every 10 s), kept 14 days.
CREATE TABLE host_metrics (
    at            timestamptz PRIMARY KEY,
    cpu_percent   real NOT NULL,
    memory_used   bigint NOT NULL,
    memory_total  bigint NOT NULL,
    load1         real NOT NULL,
    disk_percent  real NOT NULL,
    net_sent      bigint NOT NULL,
    net_received  bigint NOT NULL
);

CREATE TABLE app_metrics (
    app          text NOT NULL,
    at           timestamptz NOT NULL,
    cpu_percent  real NOT NULL,
    rss_bytes    bigint NOT NULL,
    PRIMARY KEY (app, at)
);

-- Releases whose first minutes were compared with the hour before (once each).
ALTER TABLE releases ADD COLUMN traffic_checked_at timestamptz;
