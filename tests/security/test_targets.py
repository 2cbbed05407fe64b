"""What comes back from a target is data (issue 17, items 1, 2 and 8), against a live server.

- A CREATEROLE user plants a role whose name holds SQL; an admin's reconcile with revoke must not
  run it (17.1), nor touch any other role the vault did not make.
- Two engines share a database; reconciling one must leave the other's live users alone (17.2).
- The same for MySQL/MariaDB and Redis user names, with their own quoting characters.
- A root with CREATEROLE only revokes with the default statements, leaving nothing irrevocable (17.8).
"""

from __future__ import annotations

import secrets

import psycopg
import pymysql
import pytest
import redis
from psycopg import sql

from scaivault_core.testing import READONLY_CREATION

from .conftest import ROOT_PATH, grant

# After an existing role's name: REASSIGN OWNED BY "{{name}}" TO CURRENT_USER, joined on one line with the
# other statements, becomes the REASSIGN, then ALTER USER, then a comment to the end of the line.
EXPLOIT = '" TO CURRENT_USER;ALTER USER {attacker} SUPERUSER--'
# Other names a CREATEROLE user may give a role, with every quoting character PostgreSQL knows.
PG_HOSTILE = [
    "'; ALTER USER {attacker} SUPERUSER; --",
    "\\'; ALTER USER {attacker} SUPERUSER; --",
    '"; ALTER USER {attacker} SUPERUSER; --',
    "\n;ALTER USER {attacker} SUPERUSER;\n",
    "$$;ALTER USER {attacker} SUPERUSER;$$",
    "ü名",
    "x" * 60,
]


# -- PostgreSQL on the private scram cluster ------------------------------------------------------


def admin_conn(cluster, database: str) -> psycopg.Connection:
    return psycopg.connect(cluster.admin_url(database), autocommit=True)


def logs_in(cluster, database: str, data: dict) -> bool:
    try:
        with psycopg.connect(cluster.url(data["username"], data["password"], database), connect_timeout=3) as conn:
            return conn.execute("SELECT count(*) FROM reports").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def role_names(cluster, database: str) -> set[str]:
    with admin_conn(cluster, database) as conn:
        return {r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}


def is_superuser(cluster, database: str, role: str) -> bool:
    with admin_conn(cluster, database) as conn:
        return conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone() == (True,)


@pytest.fixture
def attacker(scram_cluster, target_db):
    """``(name, password)`` of a login role with CREATEROLE and nothing else (target_db drops it afterwards)."""
    name, password = "m" + secrets.token_hex(2), secrets.token_urlsafe(16)  # short: role names hold 63 bytes
    with admin_conn(scram_cluster, target_db) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(sql.Identifier(name), sql.Literal(password))
        )
    return name, password


def create_as(cluster, database: str, who: tuple[str, str], role: str) -> None:
    """``CREATE ROLE`` of ``role`` by ``who`` (the attacker), exactly as named."""
    assert len(role.encode()) <= 63, "PostgreSQL would cut the name"
    with psycopg.connect(cluster.url(who[0], who[1], database), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))


def add_role(live, engine: str, name: str) -> None:
    """A role with the guide's creation statements and the engine's default revocation."""
    live.admin.ok(
        "POST",
        f"/v1/dynamic/engines/{engine}/roles",
        {"name": name, "creation_statements": READONLY_CREATION, "default_ttl": "1h", "max_ttl": "8h"},
    )


def reconcile(live, engine: str) -> dict:
    return live.admin.ok("POST", f"/v1/dynamic/engines/{engine}/reconcile", {"revoke": True})


def test_a_role_name_holding_sql_is_never_run_by_reconcile(server, pg_engine, scram_cluster, target_db, attacker):
    live = server()
    pg_engine(live)
    add_role(live, "pg", "ro")  # a short role name leaves the attacker room in 63 bytes
    app = grant(live, "sa:app", [{"path_pattern": "dynamic/engines/pg/roles/ro", "permissions": ["read"]}])
    lease = app.ok("POST", "/v1/dynamic/engines/pg/creds/ro", {"ttl": "30m"})
    planted = lease["data"]["username"] + EXPLOIT.format(attacker=attacker[0])
    create_as(scram_cluster, target_db, attacker, planted)

    report = reconcile(live, "pg")

    assert not is_superuser(scram_cluster, target_db, attacker[0]), "reconcile ran the SQL in a role's name"
    assert planted not in report["revoked"] and planted in role_names(scram_cluster, target_db)
    assert logs_in(scram_cluster, target_db, lease["data"])
    app.ok("DELETE", f"/v1/dynamic/leases/{lease['lease_id']}")  # the default revocation: {{name|quote}}
    assert lease["data"]["username"] not in role_names(scram_cluster, target_db)


def test_names_with_any_quoting_character_are_left_alone(server, pg_engine, scram_cluster, target_db, attacker):
    live = server()
    pg_engine(live)
    add_role(live, "pg", "ro")
    lease = live.admin.ok("POST", "/v1/dynamic/engines/pg/creds/ro", {})
    prefix = lease["data"]["username"][:-12]  # v_ro_: named like the engine's own users
    hostile = [
        (prefix + text.format(attacker=attacker[0])).encode()[:63].decode(errors="ignore") for text in PG_HOSTILE
    ]
    hostile.append(lease["data"]["username"][:-1] + "'")  # a generated name but for its last character
    for name in hostile:
        create_as(scram_cluster, target_db, attacker, name)

    report = reconcile(live, "pg")

    assert report["revoked"] == [] and report["failed"] == []
    assert set(hostile) <= role_names(scram_cluster, target_db)
    assert not is_superuser(scram_cluster, target_db, attacker[0])
    with admin_conn(scram_cluster, target_db) as conn:
        assert conn.execute("SELECT count(*) FROM reports").fetchone() == (1,)
    assert logs_in(scram_cluster, target_db, lease["data"])


def test_reconcile_of_one_engine_leaves_the_other_engines_live_users_alone(server, pg_engine, scram_cluster, target_db):
    live = server()
    pg_engine(live)
    pg_engine_on_same_database(live, scram_cluster, target_db, "pg2")
    ours = live.admin.ok("POST", "/v1/dynamic/engines/pg/creds/readonly", {})
    theirs = [live.admin.ok("POST", "/v1/dynamic/engines/pg2/creds/readonly", {}) for _ in range(12)]

    report = reconcile(live, "pg")

    assert report["revoked"] == [] and report["orphans"] == []
    assert all(logs_in(scram_cluster, target_db, lease["data"]) for lease in [ours, *theirs])
    states = {live.admin.ok("GET", f"/v1/dynamic/leases/{lease['lease_id']}")["state"] for lease in theirs}
    assert states == {"active"}
    assert reconcile(live, "pg2")["revoked"] == []


def pg_engine_on_same_database(live, cluster, database: str, name: str) -> None:
    """A second engine on the same database, with the same root secret (its policy bound to it too)."""
    live.admin.ok("POST", "/v1/policies/pg-root/bindings", {"identity": f"dynamic:{name}"})
    live.admin.ok(
        "POST",
        "/v1/dynamic/engines",
        {
            "name": name,
            "type": "database",
            "config": {
                "plugin": "postgresql",
                "root_credentials_path": ROOT_PATH,
                "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{cluster.port}/{database}",
            },
        },
    )
    add_role(live, name, "readonly")


def test_a_createrole_root_revokes_with_the_default_statements(server, scram_cluster, target_db):
    """17.8: a root with CREATEROLE only (and grant options on what the role hands out)."""
    root, password = "svroot_" + secrets.token_hex(3), secrets.token_urlsafe(18)
    with admin_conn(scram_cluster, target_db) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(sql.Identifier(root), sql.Literal(password))
        )
        conn.execute(sql.SQL("GRANT SELECT ON reports TO {} WITH GRANT OPTION").format(sql.Identifier(root)))
    live = server()
    live.admin.ok("PUT", "/v1/secrets/infra/limited/root", {"data": {"username": root, "password": password}})
    live.admin.ok(
        "POST",
        "/v1/policies",
        {"name": "limited-root", "rules": [{"path_pattern": "infra/limited/root", "permissions": ["read"]}]},
    )
    live.admin.ok("POST", "/v1/policies/limited-root/bindings", {"identity": "dynamic:limited"})
    live.admin.ok(
        "POST",
        "/v1/dynamic/engines",
        {
            "name": "limited",
            "type": "database",
            "config": {
                "plugin": "postgresql",
                "root_credentials_path": "infra/limited/root",
                "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:"
                f"{scram_cluster.port}/{target_db}",
            },
        },
    )
    add_role(live, "limited", "readonly")
    try:
        leases = [live.admin.ok("POST", "/v1/dynamic/engines/limited/creds/readonly", {}) for _ in range(3)]
        assert all(logs_in(scram_cluster, target_db, lease["data"]) for lease in leases)
        session = psycopg.connect(
            scram_cluster.url(leases[0]["data"]["username"], leases[0]["data"]["password"], target_db), autocommit=True
        )
        for lease in leases:
            live.admin.ok("DELETE", f"/v1/dynamic/leases/{lease['lease_id']}")
        states = {live.admin.ok("GET", f"/v1/dynamic/leases/{lease['lease_id']}")["state"] for lease in leases}
        assert states == {"revoked"}
        with pytest.raises(psycopg.OperationalError):
            session.execute("SELECT 1")  # its session was ended too
        session.close()
        assert not any(logs_in(scram_cluster, target_db, lease["data"]) for lease in leases)
        assert not {lease["data"]["username"] for lease in leases} & role_names(scram_cluster, target_db)
    finally:
        live.stop()
        with admin_conn(scram_cluster, target_db) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(root)))


def test_a_root_that_cannot_create_roles_is_refused(server, scram_cluster, target_db):
    root, password = "svplain_" + secrets.token_hex(3), secrets.token_urlsafe(18)
    with admin_conn(scram_cluster, target_db) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(root), sql.Literal(password)))
    live = server()
    live.admin.ok("PUT", "/v1/secrets/infra/plain/root", {"data": {"username": root, "password": password}})
    live.admin.ok(
        "POST",
        "/v1/policies",
        {"name": "plain-root", "rules": [{"path_pattern": "infra/plain/root", "permissions": ["read"]}]},
    )
    live.admin.ok("POST", "/v1/policies/plain-root/bindings", {"identity": "dynamic:plain"})
    refused = live.admin.post(
        "/v1/dynamic/engines",
        {
            "name": "plain",
            "type": "database",
            "config": {
                "plugin": "postgresql",
                "root_credentials_path": "infra/plain/root",
                "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:"
                f"{scram_cluster.port}/{target_db}",
            },
        },
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid_config" and "CREATEROLE" in error["message"]
    assert password not in refused.text


# -- MySQL/MariaDB on the machine's server ----------------------------------------------------------

MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
# What a MariaDB user might name an account; none ends in a space (MariaDB drops trailing spaces).
MYSQL_HOSTILE = [
    "x'@'%'; DROP USER '{victim}'@'%';#",
    "x`; DROP DATABASE `{database}`;#",
    "x\\'; DROP USER '{victim}'@'%';#",
    "x\"; DROP USER '{victim}'@'%';#",
    "ü名;#",
]


def look_alike(ours: str) -> str:
    """A name the engine could have generated, but another than ``ours``: its last character changed (a fixed
    "x" was ours itself whenever the generated name ended in x)."""
    return ours[:-1] + ("y" if ours.endswith("x") else "x")


def mysql(statement: str, args=None) -> list[tuple]:
    conn = pymysql.connect(**MYSQL, autocommit=True, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, args)
            return list(cur.fetchall())
    finally:
        conn.close()


@pytest.fixture
def mariadb():
    """``(database, role, victim)``: a private database, a role name of this test's own, an account to protect.
    Every account named after the role, and the victim, are dropped afterwards."""
    database, role = f"sv_sec_{secrets.token_hex(4)}", f"r{secrets.token_hex(3)}"
    victim = f"victim_{secrets.token_hex(3)}"
    mysql(f"CREATE DATABASE `{database}`")
    mysql(f"CREATE TABLE `{database}`.items (id INT PRIMARY KEY)")
    mysql("CREATE USER %s@'%%' IDENTIFIED BY 'victim-password'", (victim,))
    yield database, role, victim
    for user, host in mysql(
        "SELECT User, Host FROM mysql.user WHERE User LIKE %s OR User = %s", (f"v\\_{role}\\_%", victim)
    ):
        mysql("DROP USER IF EXISTS %s@%s", (user, host))
    mysql(f"DROP DATABASE IF EXISTS `{database}`")


def test_mysql_account_names_with_quotes_and_backticks_are_left_alone(server, mariadb):
    database, role, victim = mariadb
    live = server()
    live.admin.ok("PUT", "/v1/secrets/infra/mysql/root", {"data": {"username": MYSQL["user"], "password": ""}})
    live.admin.ok(
        "POST",
        "/v1/policies",
        {"name": "mysql-root", "rules": [{"path_pattern": "infra/mysql/root", "permissions": ["read"]}]},
    )
    live.admin.ok("POST", "/v1/policies/mysql-root/bindings", {"identity": "dynamic:my"})
    live.admin.ok(
        "POST",
        "/v1/dynamic/engines",
        {
            "name": "my",
            "type": "database",
            "config": {
                "plugin": "mysql",
                "root_credentials_path": "infra/mysql/root",
                "username_prefix": f"v_{role}_",
                "connection_url": f"mysql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:3306/{database}",
            },
        },
    )
    live.admin.ok(
        "POST",
        "/v1/dynamic/engines/my/roles",
        {
            "name": role,
            "creation_statements": [
                "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
                f"GRANT SELECT ON `{database}`.* TO '{{{{name}}}}'@'%'",
            ],
        },
    )
    lease = live.admin.ok("POST", f"/v1/dynamic/engines/my/creds/{role}", {})
    hostile = [f"v_{role}_{text.format(victim=victim, database=database)}" for text in MYSQL_HOSTILE]
    hostile.append(look_alike(lease["data"]["username"]))  # named exactly like ours, made by someone else
    for name in hostile:
        mysql("CREATE USER %s@'%%' IDENTIFIED BY 'made-by-someone-else'", (name,))

    report = reconcile(live, "my")

    assert report["revoked"] == [] and report["failed"] == []
    accounts = {
        r[0] for r in mysql("SELECT User FROM mysql.user WHERE User LIKE %s OR User = %s", (f"v\\_{role}\\_%", victim))
    }
    assert {*hostile, victim, lease["data"]["username"]} <= accounts
    assert mysql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,)) == [(1,)]
    live.admin.ok("DELETE", f"/v1/dynamic/leases/{lease['lease_id']}")  # DROP USER IF EXISTS {{name|quote}}@'%'
    assert mysql("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (lease["data"]["username"],)) == [(0,)]


# -- Redis on the machine's server ----------------------------------------------------------------

# Redis refuses spaces and NUL in user names; anything else is one protocol argument.
REDIS_ODD = ['x"y', "x'y;FLUSHALL", "*", "ü名", "x" * 2000]


@pytest.fixture
def redis_admin():
    """``(client, role, root)``: the machine's Redis, a role name of this test's own and an ACL admin for the
    engine; every user named after the role, and the admin, are deleted afterwards."""
    client = redis.Redis(host="127.0.0.1", port=6379, decode_responses=True)
    role, root = (
        f"r{secrets.token_hex(3)}",
        {"username": f"sv_sec_{secrets.token_hex(3)}", "password": secrets.token_urlsafe(18)},
    )
    client.execute_command(
        "ACL", "SETUSER", root["username"], "reset", "on", f">{root['password']}", "~*", "&*", "+@all"
    )
    yield client, role, root
    users = [u for u in client.execute_command("ACL", "USERS") if u.startswith(f"v_{role}_")]
    client.execute_command("ACL", "DELUSER", root["username"], *users)


def test_redis_user_names_with_odd_characters_are_left_alone(server, redis_admin):
    client, role, root = redis_admin
    live = server()
    live.admin.ok("PUT", "/v1/secrets/infra/redis/root", {"data": root})
    live.admin.ok(
        "POST",
        "/v1/policies",
        {"name": "redis-root", "rules": [{"path_pattern": "infra/redis/root", "permissions": ["read"]}]},
    )
    live.admin.ok("POST", "/v1/policies/redis-root/bindings", {"identity": "dynamic:cache"})
    live.admin.ok(
        "POST",
        "/v1/dynamic/engines",
        {
            "name": "cache",
            "type": "database",
            "config": {
                "plugin": "redis",
                "root_credentials_path": "infra/redis/root",
                "connection_url": "redis://{{username}}:{{password}}@127.0.0.1:6379/0",
            },
        },
    )
    live.admin.ok(
        "POST", "/v1/dynamic/engines/cache/roles", {"name": role, "keys": [f"{role}:*"], "commands": ["+get"]}
    )
    lease = live.admin.ok("POST", f"/v1/dynamic/engines/cache/creds/{role}", {})
    odd = [f"v_{role}_{text}" for text in REDIS_ODD] + [look_alike(lease["data"]["username"])]
    for name in odd:
        client.execute_command("ACL", "SETUSER", name, "on", ">made-by-someone-else", "+ping")

    report = reconcile(live, "cache")

    assert report["revoked"] == [] and report["failed"] == []
    users = set(client.execute_command("ACL", "USERS"))
    assert {*odd, lease["data"]["username"], root["username"]} <= users
    user = redis.Redis(
        host="127.0.0.1",
        port=6379,
        username=lease["data"]["username"],
        password=lease["data"]["password"],
        decode_responses=True,
    )
    assert user.get(f"{role}:missing") is None  # the lease's user still logs in and may GET
    user.close()
