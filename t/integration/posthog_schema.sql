-- Minimal mirror of the PostHog tables that scripts/asset-gate-sync reads.
-- Table and column names and types follow PostHog's Django models (posthog_organization,
-- posthog_team, posthog_exportedasset, posthog_dashboard, posthog_dashboarditem = Insight);
-- every other column is left out. Django creates foreign keys without ON DELETE actions
-- (it cascades in Python), so the tests delete children first.

CREATE TABLE posthog_organization (
    id uuid PRIMARY KEY,
    name varchar(64) NOT NULL DEFAULT '',
    -- PostHog: ArrayField(models.JSONField(), null=True): a PostgreSQL array of jsonb,
    -- each element like {"key": "organization_security_settings", "name": "..."}.
    available_product_features jsonb[] NULL,
    allow_publicly_shared_resources boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE posthog_team (
    id serial PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES posthog_organization (id),
    name varchar(200) NOT NULL DEFAULT 'Default project'
);

CREATE TABLE posthog_dashboard (
    id serial PRIMARY KEY,
    team_id integer NOT NULL REFERENCES posthog_team (id),
    name varchar(400) NULL
);

-- PostHog's Insight model keeps its historical table name.
CREATE TABLE posthog_dashboarditem (
    id serial PRIMARY KEY,
    team_id integer NOT NULL REFERENCES posthog_team (id),
    name varchar(400) NULL,
    derived_name varchar(400) NULL
);

CREATE TABLE posthog_exportedasset (
    id serial PRIMARY KEY,
    team_id integer NOT NULL REFERENCES posthog_team (id),
    dashboard_id integer NULL REFERENCES posthog_dashboard (id),
    insight_id integer NULL REFERENCES posthog_dashboarditem (id),
    export_format varchar(100) NOT NULL,
    content bytea NULL,
    content_location text NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_after timestamptz NULL,
    export_context jsonb NULL,
    exception text NULL,
    access_token varchar(400) NULL
);

CREATE INDEX posthog_exportedasset_team_id ON posthog_exportedasset (team_id);
CREATE INDEX posthog_exportedasset_created_at_id ON posthog_exportedasset (created_at, id);
CREATE INDEX posthog_exportedasset_expires_after ON posthog_exportedasset (expires_after);
