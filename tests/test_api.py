import importlib

import portflow


def test_every_public_name_exists():
    for name in portflow.__all__:
        assert getattr(portflow, name) is not None, name


def test_public_names_come_from_their_modules():
    assert portflow.Runtime is importlib.import_module("portflow.runtime").Runtime
    assert portflow.Packet is importlib.import_module("portflow.packet").Packet


def test_unknown_name_is_an_attribute_error():
    try:
        portflow.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
