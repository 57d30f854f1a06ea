/* sluice-report.c — the report model, built from the ledger.
 *
 * The ledger is opened read-only (never created). One temporary table,
 * `rq`, holds a row per request with what the report needs from its
 * attempts (the model that answered, its fallback index and TTFT, the
 * attempt and token counts); every figure is then an aggregate over `rq`
 * for a time range and a group, and percentiles are computed in C.
 *
 * Columns that a newer sluice added (and tables such as `events`) may be
 * missing from an older ledger: they read as NULL there, so the figures
 * that need them are null ("no data"), never 0.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-report"

#include <math.h>

#include "sluice-report-private.h"

#define BUSY_TIMEOUT_MS 5000

struct _SluiceReport
{
  char       *path;
  sqlite3    *db;
  GHashTable *columns;    /* "table.column" present in the ledger */
};

const char * const sluice_report_group_names[] = {
  "model", "provider", "pipeline", "endpoint", "user", "day", NULL
};

/* The columns of the first ledger schema: without them it is not a ledger. */
static const char * const required_columns[] = {
  "requests.request_id", "requests.time", "requests.pipeline", "requests.outcome",
  "requests.error_kind", "requests.attempts", "requests.prompt_tokens",
  "requests.completion_tokens", "requests.cost_usd", "requests.latency_ms", "requests.labels",
  "attempts.request_id", "attempts.time", "attempts.attempt", "attempts.provider",
  "attempts.model", "attempts.outcome", "attempts.error_kind", "attempts.prompt_tokens",
  "attempts.completion_tokens", NULL
};

/* ---- opening ----------------------------------------------------------------------- */

static gboolean
read_columns (SluiceReport  *self,
              GError       **error)
{
  static const char sql[] =
    "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p "
    "WHERE m.type = 'table'";
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT, "cannot read the ledger %s: %s",
                   self->path, sqlite3_errmsg (self->db));
      return FALSE;
    }
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_hash_table_add (self->columns, g_strdup_printf ("%s.%s", sqlite3_column_text (stmt, 0),
                                                      sqlite3_column_text (stmt, 1)));
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT, "cannot read the ledger %s: %s",
                   self->path, sqlite3_errmsg (self->db));
      return FALSE;
    }
  for (guint i = 0; required_columns[i] != NULL; i++)
    if (!g_hash_table_contains (self->columns, required_columns[i]))
      {
        g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                     "%s is not a sluice ledger: it has no column %s", self->path, required_columns[i]);
        return FALSE;
      }
  return TRUE;
}

/* "alias.column" when the ledger has it, else NULL (the SQL literal). */
static const char *
column_or_null (SluiceReport *self,
                const char   *table,
                const char   *column,
                const char   *expression)
{
  g_autofree char *name = g_strdup_printf ("%s.%s", table, column);

  return g_hash_table_contains (self->columns, name) ? expression : "NULL";
}

static gboolean
exec (SluiceReport  *self,
      const char    *sql,
      GError       **error)
{
  if (sqlite3_exec (self->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "cannot read the ledger %s: %s",
                   self->path, sqlite3_errmsg (self->db));
      return FALSE;
    }
  return TRUE;
}

/* The per-request table every figure is read from. The answering
 * attempt is the request's last attempt with outcome ok (as the request's
 * `target` is); a request with none belongs to its last attempt's model. */
static gboolean
build_request_table (SluiceReport  *self,
                     GError       **error)
{
  g_autofree char *sql = g_strdup_printf (
    "CREATE TEMP TABLE rq AS SELECT r.request_id AS request_id, r.time AS time,"
    " substr(r.time, 1, 10) AS day, r.pipeline AS pipeline, r.outcome AS outcome,"
    " r.error_kind AS error_kind, coalesce(r.prompt_tokens, 0) AS prompt_tokens,"
    " coalesce(r.completion_tokens, 0) AS completion_tokens, r.cost_usd AS cost_usd,"
    " r.latency_ms AS latency_ms, %s AS compliance, %s AS cache_hit, %s AS target,"
    " CASE WHEN json_valid(r.labels) THEN json_extract(r.labels, '$.session') END AS session,"
    " CASE WHEN json_valid(r.labels) THEN json_extract(r.labels, '$.endpoint') END AS endpoint,"
    " CASE WHEN json_valid(r.labels) THEN json_extract(r.labels, '$.user') END AS user,"
    " (SELECT x.model FROM attempts x WHERE x.request_id = r.request_id"
    "  ORDER BY x.outcome = 'ok' DESC, x.attempt DESC, x.rowid DESC LIMIT 1) AS model,"
    " (SELECT x.provider FROM attempts x WHERE x.request_id = r.request_id"
    "  ORDER BY x.outcome = 'ok' DESC, x.attempt DESC, x.rowid DESC LIMIT 1) AS provider,"
    " (SELECT %s FROM attempts x WHERE x.request_id = r.request_id AND x.outcome = 'ok'"
    "  ORDER BY x.attempt DESC, x.rowid DESC LIMIT 1) AS served_index,"
    " (SELECT %s FROM attempts x WHERE x.request_id = r.request_id AND x.outcome = 'ok'"
    "  ORDER BY x.attempt DESC, x.rowid DESC LIMIT 1) AS ttft_ms,"
    " coalesce(a.n, 0) AS n_attempts, coalesce(a.tokens, 0) AS attempt_tokens,"
    " a.wasted_tokens AS wasted_tokens, coalesce(a.cached, 0) AS cached_tokens,"
    " coalesce(a.reasoning, 0) AS reasoning_tokens, coalesce(a.timeouts, 0) AS timeouts"
    " FROM requests r LEFT JOIN (SELECT request_id, count(*) AS n,"
    "  sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)) AS tokens,"
    "  sum(CASE WHEN %s IS NULL THEN NULL WHEN %s = 1"
    "      THEN coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0) ELSE 0 END) AS wasted_tokens,"
    "  sum(coalesce(%s, 0)) AS cached, sum(coalesce(%s, 0)) AS reasoning,"
    "  sum(outcome != 'ok' AND error_kind = 'timeout') AS timeouts"
    "  FROM attempts GROUP BY request_id) a ON a.request_id = r.request_id;"
    "CREATE INDEX temp.rq_time ON rq (time);"
    /* A cache hit made no attempt: it is the cache's, not a model's. */
    "UPDATE rq SET model = '(cache)', provider = '(cache)' WHERE cache_hit = 1 AND model IS NULL;"
    /* A session with a request of unknown cost has no known cost. */
    "CREATE TEMP TABLE unknown_cost_sessions AS SELECT DISTINCT session FROM rq"
    " WHERE cost_usd IS NULL AND session IS NOT NULL;",
    column_or_null (self, "requests", "compliance", "r.compliance"),
    column_or_null (self, "requests", "cache_hit", "r.cache_hit"),
    column_or_null (self, "requests", "target", "r.target"),
    column_or_null (self, "attempts", "target_index", "x.target_index"),
    column_or_null (self, "attempts", "ttft_ms", "x.ttft_ms"),
    column_or_null (self, "attempts", "wasted", "wasted"),
    column_or_null (self, "attempts", "wasted", "wasted"),
    column_or_null (self, "attempts", "cached_tokens", "cached_tokens"),
    column_or_null (self, "attempts", "reasoning_tokens", "reasoning_tokens"));

    return exec (self, sql, error);
}

SluiceReport *
sluice_report_open (const char  *path,
                    GError     **error)
{
  g_autoptr(SluiceReport) self = NULL;

  g_return_val_if_fail (path != NULL, NULL);

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                   "no ledger at %s (a pipeline with the sqlite sink writes it; --ledger PATH names another)",
                   path);
      return NULL;
    }
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                   "the ledger %s is a folder; give the path of the ledger file", path);
      return NULL;
    }

  self = g_new0 (SluiceReport, 1);
  self->path = g_strdup (path);
  self->columns = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT, "cannot open the ledger %s: %s",
                   path, self->db != NULL ? sqlite3_errmsg (self->db) : "out of memory");
      return NULL;
    }
  sqlite3_busy_timeout (self->db, BUSY_TIMEOUT_MS);
  if (!read_columns (self, error) || !build_request_table (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

void
sluice_report_free (SluiceReport *self)
{
  if (self == NULL)
    return;
  sqlite3_close (self->db);
  g_clear_pointer (&self->columns, g_hash_table_unref);
  g_free (self->path);
  g_free (self);
}

/* ---- times ------------------------------------------------------------------------- */

char *
sluice_report_format_time (GDateTime *time)
{
  g_autoptr(GDateTime) utc = g_date_time_to_utc (time);
  g_autofree char *base = g_date_time_format (utc, "%Y-%m-%dT%H:%M:%S");

  return g_strdup_printf ("%s.%03dZ", base, g_date_time_get_microsecond (utc) / 1000);
}

GDateTime *
sluice_report_parse_time (const char  *text,
                          GDateTime   *now,
                          GError     **error)
{
  g_autoptr(GTimeZone) utc = g_time_zone_new_utc ();
  g_autofree char *full = NULL;
  GDateTime *time;
  gint64 ms;

  if (text != NULL && sluice_parse_duration (text, &ms))
    return g_date_time_add (now, -ms * 1000);

  /* A date alone is that day's midnight, UTC. */
  if (text != NULL && strlen (text) == 10)
    full = g_strconcat (text, "T00:00:00", NULL);
  time = text != NULL ? g_date_time_new_from_iso8601 (full != NULL ? full : text, utc) : NULL;
  if (time == NULL)
    g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                 "'%s' is neither a duration (7d, 24h, 30m) nor an ISO 8601 date or time "
                 "(2026-12-01, 2026-12-01T10:00:00Z)", text != NULL ? text : "");
  return time;
}

/* ---- queries ------------------------------------------------------------------------- */

gboolean
_sluice_report_query (SluiceReport         *self,
                      const char           *sql,
                      const char           *since,
                      const char           *until,
                      SluiceReportRowFunc   row,
                      gpointer              user_data,
                      GError              **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "cannot read the ledger %s: %s",
                   self->path, sqlite3_errmsg (self->db));
      return FALSE;
    }
  if (sqlite3_bind_parameter_count (stmt) >= 1)
    sqlite3_bind_text (stmt, 1, since, -1, SQLITE_STATIC);
  if (sqlite3_bind_parameter_count (stmt) >= 2)
    sqlite3_bind_text (stmt, 2, until, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    row (stmt, user_data);
  sqlite3_finalize (stmt);
  if (rc != SQLITE_DONE)
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "cannot read the ledger %s: %s",
                   self->path, sqlite3_errmsg (self->db));
      return FALSE;
    }
  return TRUE;
}

/* The time range, over a table with a `time` column (?1, ?2 may be NULL). */
#define IN_RANGE(t) "(?1 IS NULL OR " t "time >= ?1) AND (?2 IS NULL OR " t "time < ?2)"

gdouble
_sluice_report_percentile (const gdouble *sorted,
                           guint          n,
                           gdouble        p)
{
  guint rank;

  if (n == 0)
    return NAN;
  rank = (guint) ceil (p / 100.0 * n);
  return sorted[CLAMP (rank, 1, n) - 1];
}

/* A whole number as an integer member, anything else as a double. */
static void
set_number (JsonObject *object,
            const char *name,
            gdouble     value)
{
  if (isnan (value))
    json_object_set_null_member (object, name);
  else if (value == floor (value) && fabs (value) < 1e15)
    json_object_set_int_member (object, name, (gint64) value);
  else
    json_object_set_double_member (object, name, value);
}

static void
set_ratio (JsonObject *object,
           const char *name,
           gdouble     numerator,
           gdouble     denominator)
{
  if (denominator > 0 && !isnan (numerator))
    json_object_set_double_member (object, name, numerator / denominator);
  else
    json_object_set_null_member (object, name);
}

static JsonObject *
percentiles_object (GArray *values)
{
  JsonObject *object = json_object_new ();
  const gdouble *sorted = values != NULL ? (const gdouble *) values->data : NULL;
  guint n = values != NULL ? values->len : 0;

  set_number (object, "p50", _sluice_report_percentile (sorted, n, 50));
  set_number (object, "p95", _sluice_report_percentile (sorted, n, 95));
  set_number (object, "p99", _sluice_report_percentile (sorted, n, 99));
  return object;
}

/* ---- figures, per group ---------------------------------------------------------------- */

typedef struct
{
  char       *key;        /* NULL: the group of requests without a value */
  JsonObject *figures;
  GArray     *latency;    /* gdouble, ascending (the query sorts) */
  GArray     *ttft;
} Group;

static void
group_free (Group *group)
{
  g_free (group->key);
  g_clear_pointer (&group->figures, json_object_unref);
  g_clear_pointer (&group->latency, g_array_unref);
  g_clear_pointer (&group->ttft, g_array_unref);
  g_free (group);
}

typedef struct
{
  GPtrArray  *order;      /* Group*, in the order the main query gave */
  GHashTable *by_key;     /* key or "" for NULL → Group* (borrowed) */
} Groups;

static Group *
groups_lookup (Groups       *groups,
               sqlite3_stmt *stmt,
               gboolean      create)
{
  const char *key = (const char *) sqlite3_column_text (stmt, 0);
  g_autofree char *lookup = g_strconcat (key != NULL ? "=" : "", key, NULL);
  Group *group = g_hash_table_lookup (groups->by_key, lookup);

  if (group == NULL && create)
    {
      group = g_new0 (Group, 1);
      group->key = g_strdup (key);
      group->latency = g_array_new (FALSE, FALSE, sizeof (gdouble));
      group->ttft = g_array_new (FALSE, FALSE, sizeof (gdouble));
      g_ptr_array_add (groups->order, group);
      g_hash_table_insert (groups->by_key, g_steal_pointer (&lookup), group);
    }
  return group;
}

static gdouble
column_double (sqlite3_stmt *stmt,
               int           column)
{
  return sqlite3_column_type (stmt, column) == SQLITE_NULL ? NAN : sqlite3_column_double (stmt, column);
}

/* Column order of the main aggregate query below. */
enum {
  C_KEY, C_REQUESTS, C_SUCCEEDED, C_ATTEMPTS, C_REACHED, C_TIMEOUTS, C_TOKENS, C_WASTED,
  C_PROMPT, C_COMPLETION, C_CACHED, C_REASONING, C_COST, C_UNKNOWN, C_SESSIONS, C_KNOWN_SESSIONS,
  C_SESSION_COST,
  C_CACHE_HITS, C_CACHE_LOOKUPS, C_FIRST_TRY, C_CORRECTED, C_REPAIRED, C_INVALID,
  C_SERVED, C_FALLBACKS
};

static const char figures_select[] =
  "count(*), total(outcome = 'ok'), total(n_attempts), total(n_attempts > 0), total(timeouts),"
  " total(attempt_tokens), sum(wasted_tokens), total(prompt_tokens), total(completion_tokens),"
  " total(cached_tokens), total(reasoning_tokens), total(cost_usd), total(cost_usd IS NULL),"
  " count(DISTINCT session),"
  " count(DISTINCT CASE WHEN session NOT IN (SELECT session FROM unknown_cost_sessions) THEN session END),"
  " total(CASE WHEN session NOT IN (SELECT session FROM unknown_cost_sessions) THEN cost_usd END),"
  " total(cache_hit = 1), count(cache_hit),"
  " total(compliance = 'valid_first_try'), total(compliance = 'valid_after_correction'),"
  " total(compliance = 'valid_after_repair'), total(compliance = 'invalid'),"
  " total(outcome = 'ok' AND served_index IS NOT NULL), total(outcome = 'ok' AND served_index > 0)";

static void
on_figures_row (sqlite3_stmt *stmt,
                gpointer      user_data)
{
  Group *group = groups_lookup (user_data, stmt, TRUE);
  JsonObject *f = json_object_new ();
  JsonObject *compliance = json_object_new ();
  gint64 requests = sqlite3_column_int64 (stmt, C_REQUESTS);
  gdouble succeeded = sqlite3_column_double (stmt, C_SUCCEEDED);
  gdouble attempts = sqlite3_column_double (stmt, C_ATTEMPTS);
  gdouble unknown = sqlite3_column_double (stmt, C_UNKNOWN);
  gdouble cost = sqlite3_column_double (stmt, C_COST);
  gdouble checked = 0, valid = 0;
  gint64 sessions = sqlite3_column_int64 (stmt, C_SESSIONS);
  static const char * const compliance_names[] = {
    "valid_first_try", "valid_after_correction", "valid_after_repair", "invalid"
  };

  json_object_set_int_member (f, "requests", requests);
  json_object_set_int_member (f, "succeeded", (gint64) succeeded);
  json_object_set_int_member (f, "failed", requests - (gint64) succeeded);
  set_ratio (f, "error_rate", requests - succeeded, requests);
  json_object_set_object_member (f, "errors_by_kind", json_object_new ());
  set_ratio (f, "timeout_rate", sqlite3_column_double (stmt, C_TIMEOUTS), attempts);
  json_object_set_int_member (f, "breaker_trips", 0);
  set_ratio (f, "fallback_share", sqlite3_column_double (stmt, C_FALLBACKS),
             sqlite3_column_double (stmt, C_SERVED));
  set_ratio (f, "retries_per_success", attempts - sqlite3_column_double (stmt, C_REACHED), succeeded);
  json_object_set_int_member (f, "attempts", (gint64) attempts);
  set_ratio (f, "waste_ratio", column_double (stmt, C_WASTED), sqlite3_column_double (stmt, C_TOKENS));
  json_object_set_int_member (f, "prompt_tokens", (gint64) sqlite3_column_double (stmt, C_PROMPT));
  json_object_set_int_member (f, "completion_tokens", (gint64) sqlite3_column_double (stmt, C_COMPLETION));
  json_object_set_int_member (f, "cached_tokens", (gint64) sqlite3_column_double (stmt, C_CACHED));
  json_object_set_int_member (f, "reasoning_tokens", (gint64) sqlite3_column_double (stmt, C_REASONING));
  /* Requests whose every cost is unknown have an unknown cost, not 0. */
  if (requests > 0 && (gint64) unknown == requests)
    json_object_set_null_member (f, "cost_usd");
  else
    json_object_set_double_member (f, "cost_usd", cost);
  json_object_set_int_member (f, "cost_unknown_requests", (gint64) unknown);
  set_ratio (f, "cost_per_request", cost, requests - unknown);
  json_object_set_int_member (f, "sessions", sessions);
  set_ratio (f, "cost_per_session", sqlite3_column_double (stmt, C_SESSION_COST),
             sqlite3_column_double (stmt, C_KNOWN_SESSIONS));
  json_object_set_int_member (f, "cache_hits", (gint64) sqlite3_column_double (stmt, C_CACHE_HITS));
  set_ratio (f, "cache_hit_rate", sqlite3_column_double (stmt, C_CACHE_HITS),
             sqlite3_column_double (stmt, C_CACHE_LOOKUPS));
  for (guint i = 0; i < G_N_ELEMENTS (compliance_names); i++)
    {
      gdouble n = sqlite3_column_double (stmt, C_FIRST_TRY + i);

      json_object_set_int_member (compliance, compliance_names[i], (gint64) n);
      checked += n;
      if (i < 3)
        valid += n;
    }
  set_ratio (compliance, "rate", valid, checked);
  json_object_set_object_member (f, "compliance", compliance);
  group->figures = f;
}

static JsonObject *empty_figures (void);

static void
on_error_kind_row (sqlite3_stmt *stmt,
                   gpointer      user_data)
{
  Group *group = groups_lookup (user_data, stmt, FALSE);

  if (group != NULL)
    json_object_set_int_member (json_object_get_object_member (group->figures, "errors_by_kind"),
                                (const char *) sqlite3_column_text (stmt, 1),
                                sqlite3_column_int64 (stmt, 2));
}

static void
on_breaker_row (sqlite3_stmt *stmt,
                gpointer      user_data)
{
  /* A group may have trips and no requests (a day the breaker opened
   * while nothing got through): it is listed with empty figures. */
  Group *group = groups_lookup (user_data, stmt, TRUE);

  if (group->figures == NULL)
    group->figures = empty_figures ();
  json_object_set_int_member (group->figures, "breaker_trips", sqlite3_column_int64 (stmt, 1));
}

static void
on_latency_row (sqlite3_stmt *stmt,
                gpointer      user_data)
{
  Group *group = groups_lookup (user_data, stmt, FALSE);
  gdouble latency = sqlite3_column_double (stmt, 2);

  if (group != NULL)
    g_array_append_val (sqlite3_column_int (stmt, 1) ? group->ttft : group->latency, latency);
}

/* The key of a breaker event in a grouping: events name a target, whose
 * model and provider the attempts know. */
static char *
event_key (SluiceReport *self,
           const char   *group_by)
{
  gboolean has_target = g_hash_table_contains (self->columns, "attempts.target");

  if (group_by == NULL)
    return g_strdup ("NULL");
  if (g_str_equal (group_by, "model") || g_str_equal (group_by, "provider"))
    return has_target
      ? g_strdup_printf ("(SELECT x.%s FROM attempts x WHERE x.target = e.target LIMIT 1)", group_by)
      : g_strdup ("NULL");
  if (g_str_equal (group_by, "pipeline"))
    return g_strdup ("e.pipeline");
  if (g_str_equal (group_by, "day"))
    return g_strdup ("substr(e.time, 1, 10)");
  return g_strdup_printf ("CASE WHEN json_valid(e.labels) THEN json_extract(e.labels, '$.%s') END", group_by);
}

/* Fills @groups with the figures of the requests in range matching
 * @where, one group per value of @key (an `rq` column, or NULL). */
static gboolean
compute_groups (SluiceReport  *self,
                const char    *key,
                const char    *group_by,
                const char    *where,
                const char    *since,
                const char    *until,
                Groups        *groups,
                GError       **error)
{
  g_autofree char *filter = g_strdup_printf (IN_RANGE ("") " AND (%s)", where != NULL ? where : "1");
  g_autofree char *main_sql = g_strdup_printf ("SELECT %s, %s FROM rq WHERE %s GROUP BY 1 "
                                               "ORDER BY 2 DESC, 1", key, figures_select, filter);
  g_autofree char *kinds_sql = g_strdup_printf ("SELECT %s, coalesce(error_kind, 'unknown'), count(*) FROM rq "
                                                "WHERE outcome != 'ok' AND %s GROUP BY 1, 2 ORDER BY 3 DESC, 2",
                                                key, filter);
  g_autofree char *latency_sql = g_strdup_printf ("SELECT %s, 0, latency_ms FROM rq WHERE outcome = 'ok' "
                                                  "AND latency_ms IS NOT NULL AND %s UNION ALL "
                                                  "SELECT %s, 1, ttft_ms FROM rq WHERE outcome = 'ok' "
                                                  "AND ttft_ms IS NOT NULL AND %s ORDER BY 3",
                                                  key, filter, key, filter);

  if (!_sluice_report_query (self, main_sql, since, until, on_figures_row, groups, error) ||
      !_sluice_report_query (self, kinds_sql, since, until, on_error_kind_row, groups, error) ||
      !_sluice_report_query (self, latency_sql, since, until, on_latency_row, groups, error))
    return FALSE;

  /* Breaker trips: a ledger without the events table had none recorded.
   * Scoped figures (an SLO's pipeline) leave them out. */
  if (where == NULL && g_hash_table_contains (self->columns, "events.event"))
    {
      g_autofree char *ekey = event_key (self, group_by);
      g_autofree char *trips_sql = g_strdup_printf ("SELECT %s, count(*) FROM events e "
                                                    "WHERE e.event = 'breaker_open' AND " IN_RANGE ("e.")
                                                    " GROUP BY 1", ekey);

      if (!_sluice_report_query (self, trips_sql, since, until, on_breaker_row, groups, error))
        return FALSE;
    }

  for (guint i = 0; i < groups->order->len; i++)
    {
      Group *group = g_ptr_array_index (groups->order, i);

      json_object_set_object_member (group->figures, "latency_ms", percentiles_object (group->latency));
      json_object_set_object_member (group->figures, "ttft_ms", percentiles_object (group->ttft));
    }
  return TRUE;
}

static void
groups_init (Groups *groups)
{
  groups->order = g_ptr_array_new_with_free_func ((GDestroyNotify) group_free);
  groups->by_key = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

static void
groups_clear (Groups *groups)
{
  g_clear_pointer (&groups->by_key, g_hash_table_unref);
  g_clear_pointer (&groups->order, g_ptr_array_unref);
}

/* The figures of an empty range: every count 0, every rate null. */
static JsonObject *
empty_figures (void)
{
  g_autoptr(GArray) none = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *f;

  json_parser_load_from_data (parser,
    "{\"requests\": 0, \"succeeded\": 0, \"failed\": 0, \"error_rate\": null, \"errors_by_kind\": {},"
    " \"timeout_rate\": null, \"breaker_trips\": 0, \"fallback_share\": null, \"retries_per_success\": null,"
    " \"attempts\": 0, \"waste_ratio\": null, \"prompt_tokens\": 0, \"completion_tokens\": 0,"
    " \"cached_tokens\": 0, \"reasoning_tokens\": 0, \"cost_usd\": 0.0, \"cost_unknown_requests\": 0,"
    " \"cost_per_request\": null, \"sessions\": 0, \"cost_per_session\": null, \"cache_hits\": 0,"
    " \"cache_hit_rate\": null, \"compliance\": {\"valid_first_try\": 0, \"valid_after_correction\": 0,"
    " \"valid_after_repair\": 0, \"invalid\": 0, \"rate\": null}}", -1, NULL);
  f = json_object_ref (json_node_get_object (json_parser_get_root (parser)));
  json_object_set_object_member (f, "latency_ms", percentiles_object (none));
  json_object_set_object_member (f, "ttft_ms", percentiles_object (none));
  return f;
}

JsonObject *
_sluice_report_figures (SluiceReport  *self,
                        const char    *where,
                        const char    *since,
                        const char    *until,
                        GError       **error)
{
  Groups groups;
  JsonObject *figures = NULL;

  groups_init (&groups);
  if (compute_groups (self, "NULL", NULL, where, since, until, &groups, error))
    {
      Group *all = groups.order->len > 0 ? g_ptr_array_index (groups.order, 0) : NULL;

      /* GROUP BY over no rows gives no row: the empty range's figures. */
      figures = all != NULL ? json_object_ref (all->figures) : empty_figures ();
    }
  groups_clear (&groups);
  return figures;
}

/* ---- the other parts of the model ------------------------------------------------------------ */

static void
on_daily_row (sqlite3_stmt *stmt,
              gpointer      user_data)
{
  JsonObject *day = json_object_new ();

  json_object_set_string_member (day, "day", (const char *) sqlite3_column_text (stmt, 0));
  if (sqlite3_column_type (stmt, 1) == SQLITE_NULL)
    json_object_set_null_member (day, "model");
  else
    json_object_set_string_member (day, "model", (const char *) sqlite3_column_text (stmt, 1));
  json_object_set_int_member (day, "requests", sqlite3_column_int64 (stmt, 2));
  if (sqlite3_column_type (stmt, 3) == SQLITE_NULL)
    json_object_set_null_member (day, "cost_usd");
  else
    json_object_set_double_member (day, "cost_usd", sqlite3_column_double (stmt, 3));
  json_object_set_int_member (day, "prompt_tokens", sqlite3_column_int64 (stmt, 4));
  json_object_set_int_member (day, "completion_tokens", sqlite3_column_int64 (stmt, 5));
  json_array_add_object_element (user_data, day);
}

static void
on_count_row (sqlite3_stmt *stmt,
              gpointer      user_data)
{
  json_object_set_int_member (user_data, (const char *) sqlite3_column_text (stmt, 0),
                              sqlite3_column_int64 (stmt, 1));
}

static void
on_served_row (sqlite3_stmt *stmt,
               gpointer      user_data)
{
  JsonObject *row = json_object_new ();

  json_object_set_string_member (row, "target", (const char *) sqlite3_column_text (stmt, 0));
  json_object_set_int_member (row, "requests", sqlite3_column_int64 (stmt, 1));
  json_object_set_double_member (row, "share", sqlite3_column_double (stmt, 1) / sqlite3_column_double (stmt, 2));
  json_array_add_object_element (user_data, row);
}

static JsonArray *
latency_daily (Groups *days)
{
  JsonArray *array = json_array_new ();

  for (guint i = 0; i < days->order->len; i++)
    {
      Group *day = g_ptr_array_index (days->order, i);
      JsonObject *row = json_object_new ();
      const gdouble *lat = (const gdouble *) day->latency->data;
      const gdouble *ttft = (const gdouble *) day->ttft->data;

      json_object_set_string_member (row, "day", day->key);
      set_number (row, "p50_ms", _sluice_report_percentile (lat, day->latency->len, 50));
      set_number (row, "p95_ms", _sluice_report_percentile (lat, day->latency->len, 95));
      set_number (row, "p99_ms", _sluice_report_percentile (lat, day->latency->len, 99));
      set_number (row, "ttft_p50_ms", _sluice_report_percentile (ttft, day->ttft->len, 50));
      json_array_add_object_element (array, row);
    }
  return array;
}

static int
compare_keys (gconstpointer a,
              gconstpointer b)
{
  const Group *x = *(Group * const *) a;
  const Group *y = *(Group * const *) b;

  return g_strcmp0 (x->key, y->key);
}

static JsonArray *
groups_array (Groups *groups)
{
  JsonArray *array = json_array_new ();

  for (guint i = 0; i < groups->order->len; i++)
    {
      Group *group = g_ptr_array_index (groups->order, i);
      JsonObject *row = json_object_new ();
      JsonObjectIter iter;
      const char *name;
      JsonNode *value;

      if (group->key != NULL)
        json_object_set_string_member (row, "key", group->key);
      else
        json_object_set_null_member (row, "key");
      json_object_iter_init (&iter, group->figures);
      while (json_object_iter_next (&iter, &name, &value))
        json_object_set_member (row, name, json_node_copy (value));
      json_array_add_object_element (array, row);
    }
  return array;
}

static void
set_time_or_null (JsonObject *object,
                  const char *name,
                  const char *time)
{
  if (time != NULL)
    json_object_set_string_member (object, name, time);
  else
    json_object_set_null_member (object, name);
}

JsonObject *
sluice_report_build (SluiceReport  *self,
                     GDateTime     *now,
                     GDateTime     *since,
                     GDateTime     *until,
                     const char    *group_by,
                     GError       **error)
{
  g_autoptr(JsonObject) report = json_object_new ();
  g_autofree char *since_text = since != NULL ? sluice_report_format_time (since) : NULL;
  g_autofree char *until_text = until != NULL ? sluice_report_format_time (until) : NULL;
  g_autofree char *generated = sluice_report_format_time (now);
  g_autofree char *served_sql = NULL;
  g_autoptr(JsonObject) totals = NULL;
  g_autoptr(JsonArray) daily = json_array_new ();
  g_autoptr(JsonObject) kinds = json_object_new ();
  g_autoptr(JsonArray) served = json_array_new ();
  Groups groups, days;
  gboolean ok;

  g_return_val_if_fail (group_by == NULL || g_strv_contains (sluice_report_group_names, group_by), NULL);

  totals = _sluice_report_figures (self, NULL, since_text, until_text, error);
  if (totals == NULL)
    return NULL;

  json_object_set_string_member (report, "generated_at", generated);
  json_object_set_string_member (report, "ledger", self->path);
  set_time_or_null (report, "since", since_text);
  set_time_or_null (report, "until", until_text);
  set_time_or_null (report, "group_by", group_by);
  json_object_set_object_member (report, "totals", g_steal_pointer (&totals));

  groups_init (&groups);
  groups_init (&days);
  ok = group_by == NULL ||
       compute_groups (self, group_by, group_by, NULL, since_text, until_text, &groups, error);
  /* Per-day latency: the day grouping's percentiles, oldest day first. */
  ok = ok && compute_groups (self, "day", "day", NULL, since_text, until_text, &days, error);
  if (ok)
    {
      if (g_strcmp0 (group_by, "day") == 0)
        g_ptr_array_sort (groups.order, compare_keys);
      g_ptr_array_sort (days.order, compare_keys);
      json_object_set_array_member (report, "groups", groups_array (&groups));
      json_object_set_array_member (report, "latency_daily", latency_daily (&days));
    }
  groups_clear (&groups);
  groups_clear (&days);
  if (!ok)
    return NULL;

  served_sql = g_strdup_printf (
    "SELECT target, count(*), (SELECT count(*) FROM rq WHERE outcome = 'ok' AND target IS NOT NULL AND "
    IN_RANGE ("") ") FROM rq WHERE outcome = 'ok' AND target IS NOT NULL AND " IN_RANGE ("")
    " GROUP BY target ORDER BY 2 DESC, 1");
  if (!_sluice_report_query (self,
                             "SELECT day, model, count(*), CASE WHEN count(cost_usd) > 0 THEN total(cost_usd) END,"
                             " total(prompt_tokens), total(completion_tokens) FROM rq WHERE " IN_RANGE ("")
                             " GROUP BY day, model ORDER BY day, model",
                             since_text, until_text, on_daily_row, daily, error) ||
      !_sluice_report_query (self,
                             "SELECT coalesce(a.error_kind, 'unknown'), count(*) FROM attempts a"
                             " JOIN rq ON rq.request_id = a.request_id WHERE a.outcome != 'ok' AND "
                             IN_RANGE ("rq.") " GROUP BY 1 ORDER BY 2 DESC, 1",
                             since_text, until_text, on_count_row, kinds, error) ||
      !_sluice_report_query (self, served_sql, since_text, until_text, on_served_row, served, error))
    return NULL;

  json_object_set_array_member (report, "daily", g_steal_pointer (&daily));
  json_object_set_object_member (report, "error_kinds", g_steal_pointer (&kinds));
  json_object_set_array_member (report, "served_by", g_steal_pointer (&served));
  json_object_set_null_member (report, "slo");
  return g_steal_pointer (&report);
}
