"""`date`, `dateAdd`, `timestamp*` and `now()` with Java DateTimeFormatter semantics."""

from __future__ import annotations

import pytest

from kflow.expr import Renderer, RenderError

C = {
    "utc": "2024-03-05T14:07:09.123456Z",
    "paris": "2024-07-01T09:00:00+02:00",
    "local": "2024-03-05T14:07:09",
    "day": "2024-03-05",
    "epoch": 1709647629,
    "zoned": "2024-01-15T10:00:00+01:00[Europe/Paris]",
    "nanos": "2024-03-05T14:07:09.123456789Z",
}


@pytest.mark.parametrize(
    ("tpl", "expected"),
    [
        ("{{ utc | date('yyyy-MM') }}", "2024-03"),
        ("{{ utc | date('yyyyMMdd') }}", "20240305"),
        ("{{ utc | date(\"yyyy-MM-dd'T'HH:mm:ssX\") }}", "2024-03-05T14:07:09Z"),
        ("{{ paris | date(\"yyyy-MM-dd'T'HH:mm:ssX\", timeZone='Europe/Paris') }}", "2024-07-01T09:00:00+02"),
        ("{{ paris | date(\"yyyy-MM-dd'T'HH:mm:ssXXX\") }}", "2024-07-01T07:00:00Z"),
        ("{{ utc | date('iso') }}", "2024-03-05T14:07:09.123456Z"),
        ("{{ utc | date() }}", "2024-03-05T14:07:09.123456Z"),
        ("{{ utc | date }}", "2024-03-05T14:07:09.123456Z"),
        ("{{ utc | date('iso_sec') }}", "2024-03-05T14:07:09Z"),
        ("{{ utc | date('sql') }}", "2024-03-05 14:07:09.123456"),
        ("{{ utc | date('sql_seq') }}", "2024-03-05 14:07:09"),
        ("{{ utc | date('iso', timeZone='America/New_York') }}", "2024-03-05T09:07:09.123456-05:00"),
        ("{{ utc | date('HH:mm z', timeZone='Asia/Kolkata') }}", "19:37 IST"),
        ("{{ utc | date('iso_local_date') }}", "2024-03-05"),
        ("{{ utc | date('iso_date') }}", "2024-03-05Z"),
        ("{{ utc | date('iso_local_date_time') }}", "2024-03-05T14:07:09.123456"),
        ("{{ utc | date('iso_local_time') }}", "14:07:09.123456"),
        ("{{ utc | date('iso_time') }}", "14:07:09.123456Z"),
        ("{{ utc | date('iso_offset_time') }}", "14:07:09.123456Z"),
        ("{{ utc | date('iso_instant') }}", "2024-03-05T14:07:09.123456Z"),
        ("{{ utc | date('iso_date_time') }}", "2024-03-05T14:07:09.123456Z[UTC]"),
        ("{{ utc | date('iso_zoned_date_time', timeZone='Europe/Paris') }}",
         "2024-03-05T15:07:09.123456+01:00[Europe/Paris]"),
        ("{{ day | date('rfc_1123_date_time') }}", "Tue, 5 Mar 2024 00:00:00 GMT"),
        ("{{ utc | date('EEEE EEE MMMM MMM d dd D') }}", "Tuesday Tue March Mar 5 05 65"),
        ("{{ utc | date('h:mm a') }}", "2:07 PM"),
        ("{{ utc | date('ss.SSS S SSSSSS') }}", "09.123 1 123456"),
        ("{{ utc | date(\"'Q'Q yy ''x'' xxx Z\") }}", "Q1 24 '+00' +00:00 +0000"),
        ("{{ utc | date('e u w', timeZone='UTC') }}", "3 2024 10"),
        ("{{ local | date('iso') }}", "2024-03-05T14:07:09.000000Z"),
        ("{{ local | date('iso', timeZone='Europe/Paris') }}", "2024-03-05T14:07:09.000000+01:00"),
        ("{{ day | date('yyyy/MM/dd HH:mm') }}", "2024/03/05 00:00"),
        ("{{ epoch | date('iso_sec') }}", "2024-03-05T14:07:09Z"),
        ("{{ zoned | date('HH:mm', timeZone='Europe/Paris') }}", "10:00"),
        ("{{ nanos | date('iso') }}", "2024-03-05T14:07:09.123456Z"),
        ("{{ '05/03/2024 14:07' | date('yyyy-MM-dd HH:mm', existingFormat='dd/MM/yyyy HH:mm') }}",
         "2024-03-05 14:07"),
        ("{{ '20240305' | date('iso_local_date', existingFormat='yyyyMMdd') }}", "2024-03-05"),
        ("{{ 'Mar 5, 2024' | date('yyyy-MM-dd', existingFormat='MMM d, yyyy') }}", "2024-03-05"),
        ("{{ utc | dateAdd(1, 'DAYS') }}", "2024-03-06T14:07:09.123456Z"),
        ("{{ utc | dateAdd(-2, 'HOURS', 'HH:mm') }}", "12:07"),
        ("{{ '2024-01-31' | dateAdd(1, 'MONTHS', 'yyyy-MM-dd') }}", "2024-02-29"),
        ("{{ utc | dateAdd(1, 'YEARS', format='yyyy') }}", "2025"),
        ("{{ utc | dateAdd(3, 'WEEKS', 'yyyy-MM-dd') }}", "2024-03-26"),
        ("{{ utc | timestamp }}", "1709647629"),
        ("{{ utc | timestampMilli }}", "1709647629123"),
        ("{{ utc | timestampMicro }}", "1709647629123456"),
        ("{{ utc | timestampNano }}", "1709647629123456000"),
        ("{{ now() }}", "2024-01-02T03:04:05.123456Z"),
        ("{{ now('yyyy-MM-dd') }}", "2024-01-02"),
        ("{{ now(format='HH:mm', timeZone='Europe/Paris') }}", "04:04"),
        ("{{ now() | date('yyyy') }}", "2024"),
        ("{{ now() | dateAdd(-1, 'DAYS') | date('yyyy-MM-dd') }}", "2024-01-01"),
        ("{{ null | date('yyyy') }}", ""),
    ],
)
def test_dates(renderer: Renderer, tpl: str, expected: str) -> None:
    assert renderer.render(tpl, C) == expected


def test_default_timezone_of_renderer() -> None:
    r = Renderer(default_timezone="Europe/Paris")
    assert r.render("{{ utc | date('HH:mm XXX') }}", C) == "15:07 +01:00"
    assert r.render("{{ utc | date('HH:mm', timeZone='UTC') }}", C) == "14:07"


def test_default_timezone_does_not_leak_through_cache(renderer: Renderer) -> None:
    tpl = "{{ '2024-03-05T14:07:09Z' | date('HH') }}"
    assert Renderer(default_timezone="Asia/Tokyo").render(tpl, {}) == "23"
    assert renderer.render(tpl, {}) == "14"


@pytest.mark.parametrize(
    ("tpl", "message"),
    [
        ("{{ utc | date('yyyy-bb') }}", "Unknown pattern letter: b"),
        ("{{ utc | date('ddd') }}", "Too many pattern letters: d"),
        ("{{ utc | date('iso', timeZone='Mars/Base') }}", "Unknown time-zone ID: Mars/Base"),
        ("{{ 'not a date' | date('yyyy') }}", "Unable to parse date 'not a date'"),
        ("{{ utc | dateAdd(1, 'FORTNIGHTS') }}", "Unknown ChronoUnit 'FORTNIGHTS'"),
        ("{{ '5-3' | date('yyyy', existingFormat='dd/MM/yyyy') }}", "could not be parsed"),
    ],
)
def test_date_errors(renderer: Renderer, tpl: str, message: str) -> None:
    with pytest.raises(RenderError) as e:
        renderer.render(tpl, C)
    assert message in str(e.value)


def test_unknown_default_timezone_fails_fast() -> None:
    with pytest.raises(Exception, match="Unknown time-zone"):
        Renderer(default_timezone="Nowhere/Land")
