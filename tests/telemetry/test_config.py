"""[telemetry] in the config file: off by default, every value checked."""

import pytest

from stateway.settings import Settings, SettingsError


def test_off_by_default():
    assert not Settings.from_config({}).telemetry.enabled


def test_values_are_read():
    t = Settings.from_config({"telemetry": {"otlp_endpoint": "http://c:4318", "service_name": "orders",
                                            "sample_ratio": 0.25}}).telemetry
    assert (t.enabled, t.otlp_endpoint, t.service_name, t.sample_ratio) == (True, "http://c:4318", "orders", 0.25)


@pytest.mark.parametrize("section, message", [
    ({"sample_ratio": 2}, "[telemetry] sample_ratio must be between 0 and 1"),
    ({"otlp_endpoint": 4318}, "[telemetry] otlp_endpoint must be non-empty text"),
    ({"endpoint": "http://c"}, "did you mean 'otlp_endpoint'"),
])
def test_bad_values_name_the_setting(section, message):
    with pytest.raises(SettingsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Settings.from_config({"telemetry": section})
