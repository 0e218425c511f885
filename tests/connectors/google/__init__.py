"""Tests of the Google Calendar connector against respx routers serving Google's documented
payloads (fixtures/ holds verbatim copies of /work/shared/providers/google_*). The files not from
there are reconstructed from Google's reference: google_calendar_list.json from the
CalendarListEntry schema; google_event_conference_pending.json and
google_event_conference_success.json from the Event resource's ``conferenceData`` (a Meet
``createRequest`` answered ``pending``, then ``success`` with its ``entryPoints`` and the
``hangoutLink``) and ``attendees[].responseStatus`` (needsAction, accepted, declined, tentative)."""
