-- Concatenates arrays: a session's work (ark_session_work) merges its queries' model and tool lists with it.
CREATE OR REPLACE AGGREGATE ark_array_concat(text[]) (SFUNC = array_cat, STYPE = text[], INITCOND = '{}');
