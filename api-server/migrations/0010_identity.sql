-- Identities, tokens, tool permissions and brute-force lockout state (docs/api-server.md).

-- Tenants partition principals in multi-tenant mode; single-tenant installs use 'default' only.
-- tool_ceiling: the most any principal of the tenant may use (intersected in multi-tenant mode).
CREATE TABLE tenants (
    id            text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 200),
    tool_ceiling  text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tenants (id, display_name) VALUES ('default', 'Default tenant');

-- The server's tool catalog: a tool is usable only if it is here (and under every ceiling).
CREATE TABLE tools (
    name         text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$'),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Human principals. Usernames are unique server-wide (login names no tenant). password_hash is
-- bcrypt; the raw password is never stored. token_generation is part of every token issued to
-- the user: bumping it (disable, role/tenant/password change) revokes all of them at once.
CREATE TABLE users (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant            text NOT NULL REFERENCES tenants (id),
    username          text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    password_hash     text NOT NULL,
    role              text NOT NULL CHECK (role IN ('super_admin', 'admin', 'user')),
    allowed_tools     text[] NOT NULL DEFAULT '{}',
    disabled          boolean NOT NULL DEFAULT false,
    token_generation  bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_tenant ON users (tenant, username);

-- Agents are principals of their own, created by an admin with the tools they may use.
CREATE TABLE agents (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant            text NOT NULL REFERENCES tenants (id),
    name              text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    allowed_tools     text[] NOT NULL DEFAULT '{}',
    disabled          boolean NOT NULL DEFAULT false,
    token_generation  bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name)
);

-- Revoked token ids (logout), kept until the token would have expired anyway; every replica
-- checks this table on each request.
CREATE TABLE revoked_tokens (
    jti         uuid PRIMARY KEY,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

-- Failed-login counters and locks, per attempted username ('user') and per source IP ('ip').
-- Rows are locked FOR UPDATE while a failure is counted, so replicas agree on when a lock starts.
CREATE TABLE lockout_state (
    scope           text NOT NULL CHECK (scope IN ('user', 'ip')),
    key             text NOT NULL CHECK (length(key) BETWEEN 1 AND 256),
    failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    window_started  timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    PRIMARY KEY (scope, key)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'alexandria_app') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, tools, users, agents, revoked_tokens,
            lockout_state TO alexandria_app;
    END IF;
END $$;
