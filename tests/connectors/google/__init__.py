"""Tests of the Google Calendar connector against respx routers serving Google's documented
payloads (fixtures/ holds verbatim copies of /work/shared/providers/google_*; the one file not
from there, google_calendar_list.json, is reconstructed from the CalendarListEntry schema)."""
