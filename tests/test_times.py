"""Times in outputs: ISO 8601 text in the input's own zone."""

import numpy as np
import pytest

from motifscan.io.times import format_time


def test_format_time():
    assert format_time(np.datetime64("2025-03-14T08:00:04", "ns")) == "2025-03-14T08:00:04"
    assert format_time(np.datetime64("2025-03-14T08:00:04.250", "ns")) == "2025-03-14T08:00:04.250"
    assert format_time(np.float64(12.0)) == 12 and format_time(0.125) == 0.125
    assert format_time(None) is None
    assert format_time(np.datetime64("NaT", "ns")) is None and format_time(float("nan")) is None


def test_zoned_times_show_their_offset():
    import datetime as dt
    import zoneinfo

    import pandas as pd

    from motifscan.io.times import zoned_time

    instant = np.datetime64("2024-05-01T08:00:03.900", "ns")
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert format_time(zoned_time(instant, plus_two)) == "2024-05-01T10:00:03.900+02:00"
    assert format_time(zoned_time(instant, dt.UTC)) == "2024-05-01T08:00:03.900Z"
    assert format_time(zoned_time(instant, zoneinfo.ZoneInfo("America/St_Johns"))) == "2024-05-01T05:30:03.900-02:30"
    # London in winter is at +00:00 but is not UTC.
    assert (
        format_time(zoned_time(np.datetime64("2024-01-01T00:00:00", "ns"), zoneinfo.ZoneInfo("Europe/London")))
        == "2024-01-01T00:00:00+00:00"
    )
    assert (
        format_time(zoned_time(np.datetime64("2024-01-01T00:00:00.000000001", "ns"), plus_two))
        == "2024-01-01T02:00:00.000000001+02:00"
    )
    assert format_time(pd.Timestamp("2024-05-01T10:00", tz="UTC")) == "2024-05-01T10:00:00Z"
    assert (
        zoned_time(np.datetime64("NaT", "ns"), plus_two) is not None
        and format_time(zoned_time(np.datetime64("NaT", "ns"), plus_two)) is None
    )


@pytest.mark.parametrize("zone", [None, "UTC", "+02:00", "-09:30", "Europe/Berlin", "America/New_York"])
def test_iso_times_of_many_values_are_those_of_format_time(zone):
    """The vectorised form (score tracks) against the one-value form (motifs), across a
    daylight-saving switch, every precision and NaT."""
    from motifscan.io.times import iso_times, zoned_time
    from motifscan.io.columns import zone_from_arrow

    tzinfo = zone_from_arrow(zone)
    rng = np.random.default_rng(7)
    base = np.datetime64("2024-03-31T00:00", "ns").astype(np.int64)
    steps = rng.choice([10**9, 10**6, 10**3, 1, 3600 * 10**9], size=300) * rng.integers(1, 1000, 300)
    values = (base + np.cumsum(steps)).astype("datetime64[ns]")
    values[[5, 77]] = np.datetime64("NaT")
    expected = [format_time(zoned_time(value, tzinfo)) for value in values]
    assert list(iso_times(values, tzinfo)) == expected
