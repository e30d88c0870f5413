-- Directory sync (SCIM 2.0, RFC 7643/7644): directories per organization, the users and groups a
-- directory pushes (the resource as JSONB beside the normalised columns that filters and
-- uniqueness use), group memberships, and suspension of organization memberships.

-- A membership is `active` or `suspended` (deprovisioned by a directory: no access to the
-- organization, kept so that reactivation restores the same role).
ALTER TABLE memberships
    ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended'));

-- Directory changes are audited with the directory as the actor.
ALTER TABLE audit_events DROP CONSTRAINT audit_events_actor_kind_check;
ALTER TABLE audit_events ADD CONSTRAINT audit_events_actor_kind_check
    CHECK (actor_kind IN ('user', 'api_key', 'session', 'system', 'anonymous', 'directory'));

CREATE TABLE scim_directories (
    id                  text PRIMARY KEY CHECK (id ~ '^dir_[0-9A-HJKMNP-TV-Z]{26}$'),
    organization_id     text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    provider            text NOT NULL CHECK (provider IN ('okta', 'entra', 'google', 'onelogin', 'jumpcloud', 'generic')),
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    -- {"Group display name": "admin"}; never `owner`.
    group_role_mappings jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(group_role_mappings) = 'object'),
    token_prefix        text NOT NULL CHECK (length(token_prefix) BETWEEN 4 AND 32),
    token_hash          bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    token_rotated_at    timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scim_directories_org ON scim_directories (organization_id, id);

CREATE TABLE scim_users (
    id              text PRIMARY KEY CHECK (id ~ '^scu_[0-9A-HJKMNP-TV-Z]{26}$'),
    directory_id    text NOT NULL REFERENCES scim_directories (id) ON DELETE CASCADE,
    user_name       text NOT NULL CHECK (length(user_name) BETWEEN 1 AND 512),
    user_name_lower text GENERATED ALWAYS AS (lower(user_name)) STORED,
    external_id     text CHECK (external_id IS NULL OR length(external_id) <= 512),
    primary_email   text CHECK (primary_email IS NULL OR length(primary_email) <= 320),
    display_name    text,
    active          boolean NOT NULL DEFAULT true,
    -- The resource as the client sent it (canonical attribute names), minus id/meta/groups.
    resource        jsonb NOT NULL CHECK (jsonb_typeof(resource) = 'object'),
    version         bigint NOT NULL DEFAULT 1,
    -- The Portico user this SCIM user is (once linked).
    user_id         text REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX scim_users_user_name ON scim_users (directory_id, user_name_lower);
CREATE INDEX scim_users_external_id ON scim_users (directory_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX scim_users_primary_email ON scim_users (directory_id, lower(primary_email)) WHERE primary_email IS NOT NULL;
CREATE INDEX scim_users_user ON scim_users (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX scim_users_dir_id ON scim_users (directory_id, id);

CREATE TABLE scim_groups (
    id                 text PRIMARY KEY CHECK (id ~ '^scg_[0-9A-HJKMNP-TV-Z]{26}$'),
    directory_id       text NOT NULL REFERENCES scim_directories (id) ON DELETE CASCADE,
    display_name       text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 512),
    display_name_lower text GENERATED ALWAYS AS (lower(display_name)) STORED,
    external_id        text CHECK (external_id IS NULL OR length(external_id) <= 512),
    resource           jsonb NOT NULL CHECK (jsonb_typeof(resource) = 'object'),
    version            bigint NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scim_groups_display_name ON scim_groups (directory_id, display_name_lower);
CREATE INDEX scim_groups_external_id ON scim_groups (directory_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX scim_groups_dir_id ON scim_groups (directory_id, id);

-- Members of a group: users of the same directory (nested groups are not offered).
CREATE TABLE scim_group_members (
    group_id   text NOT NULL REFERENCES scim_groups (id) ON DELETE CASCADE,
    user_id    text NOT NULL REFERENCES scim_users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX scim_group_members_user ON scim_group_members (user_id);
