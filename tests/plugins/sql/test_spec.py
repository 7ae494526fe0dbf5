"""The sql kind's spec, codec and registration: bad fields are spec errors naming the spec and field."""

from __future__ import annotations

import pytest

from portflow.errors import SpecError
from portflow.plugins.sql import drivers_of, register
from portflow.plugins.sql.drivers import Drivers, Isolation, default_drivers, parse_isolation
from portflow.plugins.sql.node import SQLNode
from portflow.scheme import Context, Scheme

from .conftest import send


@pytest.fixture
def scheme():
    s = Scheme()
    register(s)
    return s


def build(scheme, **fields):
    doc = {"kind": "sql", "name": "q", **fields}
    return scheme.compile(scheme.decode(doc), Context(scheme=scheme))


def test_registered_with_docs(scheme):
    kind = scheme.kind("sql")
    assert kind.plugin == "sql" and set(kind.ports) == {"in", "out", "error"}
    assert "kind: sql" in kind.example
    assert [f["name"] for f in scheme.fields("sql")] == ["driver", "source", "isolation"]
    assert scheme.json_schema("sql")


@pytest.mark.parametrize("driver", ["sqlite", "sqlite3", "postgres", "postgresql", "mysql", "mariadb"])
def test_driver_names_and_aliases(scheme, driver):
    source = {"sqlite": ":memory:", "sqlite3": ":memory:"}.get(driver, "postgresql://u@h/db")
    if driver in ("mysql", "mariadb"):
        source = "mysql://u:p@h:3306/db"
    node = build(scheme, driver=driver, source=source)
    assert isinstance(node, SQLNode)


@pytest.mark.parametrize("fields,message", [
    ({"driver": "oracle", "source": "x"}, "spec 'q' (kind sql): driver: unknown driver 'oracle'"),
    ({"driver": "sqlite"}, "spec 'q' (kind sql): source: required"),
    ({"driver": "sqlite", "source": ":memory:", "isolation": "snapshot"},
     "spec 'q' (kind sql): isolation: unknown isolation level 'snapshot'; expected read uncommitted"),
    ({"driver": "sqlite", "source": ":memory:", "isolation": 7}, "isolation: unsupported isolation level 7"),
    ({"driver": "postgres", "source": "http://example.com/db"}, "source: expected a postgres:// or postgresql:// URL"),
    ({"driver": "postgres", "source": "postgresql://h/db?pool_max=zero"}, "source: option pool_max='zero'"),
    ({"driver": "postgres", "source": "postgresql://h/db?bogus_option=1"}, "source: "),
    ({"driver": "mysql", "source": "mysql://u@h:port/db"}, "source: the port is not a number"),
    ({"driver": "mysql", "source": "redis://h/0"}, "source: expected a mysql:// URL"),
])
def test_bad_fields_are_spec_errors(scheme, fields, message):
    with pytest.raises(SpecError) as info:
        build(scheme, **fields)
    assert message in str(info.value)


def test_every_problem_is_reported_at_once(scheme):
    with pytest.raises(SpecError) as info:
        build(scheme, driver="nope", isolation="sometimes")
    assert len(info.value.problems) == 2


@pytest.mark.parametrize("value,level", [
    (None, None), ("", None), ("default", None), (0, None),
    ("read committed", Isolation.READ_COMMITTED), ("READ_COMMITTED", Isolation.READ_COMMITTED),
    ("Repeatable-Read", Isolation.REPEATABLE_READ), (6, Isolation.SERIALIZABLE), (1, Isolation.READ_UNCOMMITTED),
])
def test_isolation_spellings(value, level):
    assert parse_isolation(value) is level


def test_the_node_is_named_after_the_spec(scheme):
    node = build(scheme, driver="sqlite", source=":memory:")
    assert node.name == "q"


def test_passwords_are_masked_in_the_label(scheme):
    node = build(scheme, driver="postgres", source="postgresql://app:s3cret@db:5432/app")
    assert "s3cret" not in repr(node) and "***" in node.label
    node = build(scheme, driver="mysql", source="app:s3cret@tcp(db:3306)/app")
    assert "s3cret" not in repr(node)


async def test_a_plugin_can_add_a_driver(scheme):
    class Echo:
        name = "internal"
        label = "internal"
        pinned = False

        def check(self, source):
            pass

        def database(self, source):
            return self

        async def open(self):
            pass

        async def close(self):
            pass

        async def begin(self, isolation):
            return self

        async def execute(self, query, args):
            return [{"query": query}]

        async def commit(self):
            pass

        async def rollback(self):
            pass

    drivers = drivers_of(scheme)
    assert isinstance(drivers, Drivers) and "sqlite" in drivers
    drivers.register(Echo())
    node = build(scheme, driver="internal")
    await node.load()
    assert await send(node, "SELECT * FROM frames") == [{"query": "SELECT * FROM frames"}]
    await node.close()
    # Registries are objects: another scheme is not affected.
    assert "internal" not in default_drivers()


def test_drivers_of_a_scheme_without_sql():
    assert drivers_of(Scheme()) is None


def test_mysql_go_dsn():
    from portflow.plugins.sql.drivers.mysql import parse_source

    kwargs, pool = parse_source("bob:pa%3Ass@tcp(db.local:3307)/shop?parseTime=true&pool_max=3")
    assert (kwargs["host"], kwargs["port"], kwargs["user"], kwargs["db"]) == ("db.local", 3307, "bob", "shop")
    assert pool["maxsize"] == 3
    kwargs, _ = parse_source("mysql://bob:p%40ss@db:3306/shop?charset=latin1")
    assert (kwargs["password"], kwargs["charset"]) == ("p@ss", "latin1")
