"""Pure transforms: Ibis tables in, Ibis tables out. No sessions, paths or engines here."""
