"""The psycopg seam's assumptions, checked against the installed psycopg: a failure names its version."""

from __future__ import annotations

import pytest

from portflow.errors import ConfigError
from portflow.plugins.sql.drivers import psycopg_seam


def test_installed_psycopg_is_a_supported_version():
    psycopg_seam.check()  # raises ConfigError "psycopg X.Y.Z ..." when the internals moved


def test_an_unsupported_version_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(psycopg_seam, "installed", lambda: "3.1.4")
    with pytest.raises(ConfigError, match=r"psycopg 3\.1\.4 is not a version portflow supports \(3\.3\.x\)"):
        psycopg_seam.check()


def test_a_moved_internal_is_refused_naming_the_version(monkeypatch):
    monkeypatch.delattr(psycopg_seam.generators, "send")
    with pytest.raises(ConfigError, match=rf"psycopg {psycopg_seam.installed()}: its internal API changed"):
        psycopg_seam.check()
