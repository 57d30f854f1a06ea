/* sluice-report-slo.c — service level objectives and their error budgets.
 *
 * An SLO file (YAML or JSON, read by the pipeline files' loader, so each
 * problem is reported as file:line:col):
 *
 *   window: 30d                  # rolling, ending now (or at --until)
 *   objectives:
 *     - availability: 99.5%      # share of requests that succeed
 *       pipeline: sentiment      # optional scope
 *     - latency_p95: 2s          # 95% of succeeded requests at most this slow
 *     - daily_cost: $5           # dollars per day, on average over the window
 *     - eval_pass_rate: 90%      # not measurable: evals are not built yet
 *
 * The definitions (budget, consumption, burn rate) are the README's.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-report"

#include <math.h>

#include "sluice-report-private.h"
#include "sluice-document-private.h"

#define DEFAULT_WINDOW_MS (30 * 86400000LL)
#define DAY_MS 86400000LL
/* Budget consumed from which an objective is a warning. */
#define WARNING_CONSUMED_PCT 75.0
/* A latency objective is on the 95th percentile: 5% may be slower. */
#define LATENCY_ALLOWED_SLOW 0.05

static const char * const objective_kinds[] = {
  "availability", "latency_p95", "daily_cost", "eval_pass_rate", NULL
};
static const char * const objective_members[] = {
  "availability", "latency_p95", "daily_cost", "eval_pass_rate", "pipeline", "name", NULL
};
static const char * const top_members[] = { "window", "objectives", NULL };

typedef struct
{
  SluiceDocument *doc;
  GPtrArray      *diagnostics;
} Checker;

/* An error at what @pointer names in the SLO file. */
#define report(checker, pointer, ...) \
  sluice_document_report ((checker)->doc, (checker)->diagnostics, (pointer), __VA_ARGS__)

static void
check_members (Checker            *checker,
               JsonObject         *object,
               const char         *pointer,
               const char * const *known)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *value;

  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &name, &value))
    if (!g_strv_contains (known, name))
      {
        g_autofree char *member = g_strdup_printf ("%s/%s", pointer, name);
        const char *suggestion = sluice_suggest (name, known);

        if (suggestion != NULL)
          report (checker, member, "unknown member '%s'; did you mean '%s'?", name, suggestion);
        else
          report (checker, member, "unknown member '%s'", name);
      }
}

/* "99.5%" → 0.995; a plain number between 0 and 1 is already a fraction. */
static gboolean
parse_percent (JsonNode *node,
               gdouble  *out)
{
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    {
      const char *text = json_node_get_string (node);
      char *end = NULL;
      gdouble value = g_ascii_strtod (text, &end);

      if (end == text || g_strcmp0 (end, "%") != 0 || !isfinite (value))
        return FALSE;
      *out = value / 100.0;
    }
  else if (JSON_NODE_HOLDS_VALUE (node) && (json_node_get_value_type (node) == G_TYPE_DOUBLE ||
                                            json_node_get_value_type (node) == G_TYPE_INT64))
    *out = json_node_get_double (node);
  else
    return FALSE;
  return *out > 0 && *out < 1;
}

/* "$5", "5", 5 or 0.5 dollars. */
static gboolean
parse_dollars (JsonNode *node,
               gdouble  *out)
{
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    {
      const char *text = json_node_get_string (node);
      char *end = NULL;

      if (text[0] == '$')
        text++;
      *out = g_ascii_strtod (text, &end);
      if (end == text || *end != '\0' || !g_ascii_isdigit (text[0]))
        return FALSE;
    }
  else if (JSON_NODE_HOLDS_VALUE (node) && (json_node_get_value_type (node) == G_TYPE_DOUBLE ||
                                            json_node_get_value_type (node) == G_TYPE_INT64))
    *out = json_node_get_double (node);
  else
    return FALSE;
  return isfinite (*out) && *out > 0;
}

static gboolean
parse_duration_node (JsonNode *node,
                     gint64   *out_ms)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING &&
         sluice_parse_duration (json_node_get_string (node), out_ms) && *out_ms > 0;
}

/* ---- measuring ----------------------------------------------------------------------- */

typedef struct
{
  gdouble requests, failed, succeeded, slow, cost, cost_unknown;
  GArray *latency;  /* gdouble, ascending */
} Window;

typedef struct
{
  Window  *window;
  gboolean latency_rows;
} WindowRows;

static void
on_window_row (sqlite3_stmt *stmt,
               gpointer      user_data)
{
  WindowRows *rows = user_data;

  if (rows->latency_rows)
    {
      gdouble latency = sqlite3_column_double (stmt, 0);

      g_array_append_val (rows->window->latency, latency);
      return;
    }
  rows->window->requests = sqlite3_column_double (stmt, 0);
  rows->window->failed = sqlite3_column_double (stmt, 1);
  rows->window->succeeded = sqlite3_column_double (stmt, 2);
  rows->window->slow = sqlite3_column_double (stmt, 3);
  rows->window->cost = sqlite3_column_double (stmt, 4);
  rows->window->cost_unknown = sqlite3_column_double (stmt, 5);
}

/* The counts of [@start, @end) for requests in @scope (a pipeline or NULL);
 * "slow" are succeeded requests slower than @threshold_ms. */
static gboolean
measure (SluiceReport  *report,
         const char    *scope,
         gint64         threshold_ms,
         GDateTime     *end,
         gint64         span_ms,
         gboolean       with_latencies,
         Window        *window,
         GError       **error)
{
  g_autoptr(GDateTime) start = g_date_time_add (end, -span_ms * 1000);
  g_autofree char *since = sluice_report_format_time (start);
  g_autofree char *until = sluice_report_format_time (end);
  char *where = sqlite3_mprintf (scope != NULL ? "pipeline = %Q" : "1", scope);
  g_autofree char *counts_sql = g_strdup_printf (
    "SELECT count(*), total(outcome != 'ok'), total(outcome = 'ok'),"
    " total(outcome = 'ok' AND latency_ms > %" G_GINT64_FORMAT "), total(cost_usd), total(cost_usd IS NULL)"
    " FROM rq WHERE time >= ?1 AND time < ?2 AND %s", threshold_ms, where);
  g_autofree char *latency_sql = g_strdup_printf (
    "SELECT latency_ms FROM rq WHERE time >= ?1 AND time < ?2 AND outcome = 'ok'"
    " AND latency_ms IS NOT NULL AND %s ORDER BY latency_ms", where);
  WindowRows rows = { window, FALSE };
  gboolean ok;

  sqlite3_free (where);
  ok = _sluice_report_query (report, counts_sql, since, until, on_window_row, &rows, error);
  rows.latency_rows = TRUE;
  if (ok && with_latencies)
    ok = _sluice_report_query (report, latency_sql, since, until, on_window_row, &rows, error);
  return ok;
}

typedef enum { KIND_AVAILABILITY, KIND_LATENCY, KIND_COST, KIND_EVAL } Kind;

/* The share of the budget that @w used, burning at 1 when it uses the
 * budget exactly as fast as the window allows. NaN: nothing to measure. */
static gdouble
burn (Kind     kind,
      gdouble  target,
      Window  *w,
      gint64   span_ms)
{
  switch (kind)
    {
    case KIND_AVAILABILITY:
      return w->requests > 0 ? (w->failed / w->requests) / (1.0 - target) : NAN;
    case KIND_LATENCY:
      return w->succeeded > 0 ? (w->slow / w->succeeded) / LATENCY_ALLOWED_SLOW : NAN;
    case KIND_COST:
      /* Requests all of unknown cost tell nothing about spending. */
      if (w->requests > 0 && w->cost_unknown >= w->requests)
        return NAN;
      return w->cost / (target * ((gdouble) span_ms / DAY_MS));
    case KIND_EVAL:
    default:
      return NAN;
    }
}

static void
set_or_null (JsonObject *object,
             const char *name,
             gdouble     value)
{
  if (isnan (value))
    json_object_set_null_member (object, name);
  else
    json_object_set_double_member (object, name, value);
}

static gboolean
evaluate (SluiceReport  *report,
          JsonObject    *objective,
          Kind           kind,
          gdouble        target,
          const char    *scope,
          GDateTime     *end,
          gint64         window_ms,
          GError       **error)
{
  gint64 threshold = kind == KIND_LATENCY ? (gint64) target : G_MAXINT32;
  Window full = { 0 }, day = { 0 }, week = { 0 };
  gdouble consumed, actual;
  const char *status;
  gboolean ok;

  full.latency = g_array_new (FALSE, FALSE, sizeof (gdouble));
  ok = measure (report, scope, threshold, end, window_ms, kind == KIND_LATENCY, &full, error) &&
       measure (report, scope, threshold, end, MIN (DAY_MS, window_ms), FALSE, &day, error) &&
       measure (report, scope, threshold, end, MIN (7 * DAY_MS, window_ms), FALSE, &week, error);
  if (ok)
    {
      switch (kind)
        {
        case KIND_AVAILABILITY:
          actual = full.requests > 0 ? full.succeeded / full.requests : NAN;
          json_object_set_double_member (objective, "error_budget", 1.0 - target);
          break;
        case KIND_LATENCY:
          actual = _sluice_report_percentile ((const gdouble *) full.latency->data, full.latency->len, 95);
          json_object_set_double_member (objective, "error_budget", LATENCY_ALLOWED_SLOW);
          break;
        case KIND_COST:
        default:
          actual = full.requests > 0 && full.cost_unknown >= full.requests
                   ? NAN : full.cost / ((gdouble) window_ms / DAY_MS);
          json_object_set_double_member (objective, "error_budget", target * ((gdouble) window_ms / DAY_MS));
          json_object_set_double_member (objective, "cost_usd", full.cost);
          json_object_set_int_member (objective, "cost_unknown_requests", (gint64) full.cost_unknown);
          break;
        }
      consumed = burn (kind, target, &full, window_ms) * 100.0;
      /* the requests the objective is measured over */
      json_object_set_int_member (objective, "requests", (gint64) (kind == KIND_LATENCY ? full.succeeded : full.requests));
      set_or_null (objective, "actual", actual);
      set_or_null (objective, "budget_consumed_pct", consumed);
      set_or_null (objective, "burn_rate_1d", burn (kind, target, &day, MIN (DAY_MS, window_ms)));
      set_or_null (objective, "burn_rate_7d", burn (kind, target, &week, MIN (7 * DAY_MS, window_ms)));
      if (isnan (consumed))
        status = "no_data";
      else if (consumed >= 100.0)
        status = "exhausted";
      else if (consumed >= WARNING_CONSUMED_PCT || burn (kind, target, &day, MIN (DAY_MS, window_ms)) > 1.0)
        status = "warning";
      else
        status = "ok";
      json_object_set_string_member (objective, "status", status);
    }
  g_array_unref (full.latency);
  return ok;
}

/* ---- the file ----------------------------------------------------------------------- */

static JsonObject *
check_objective (Checker    *checker,
                 JsonNode   *node,
                 guint       index,
                 Kind       *kind_out,
                 gdouble    *target_out)
{
  g_autofree char *pointer = g_strdup_printf ("/objectives/%u", index);
  g_autoptr(JsonObject) objective = json_object_new ();
  JsonObject *spec;
  const char *kind_name = NULL;
  guint n_errors = sluice_diagnostics_count_errors (checker->diagnostics);
  JsonNode *target;
  JsonNode *scope;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      report (checker, pointer, "an objective is a mapping, such as {availability: 99.5%%}");
      return NULL;
    }
  spec = json_node_get_object (node);
  check_members (checker, spec, pointer, objective_members);
  for (guint i = 0; objective_kinds[i] != NULL; i++)
    if (json_object_has_member (spec, objective_kinds[i]))
      {
        if (kind_name != NULL)
          report (checker, pointer, "an objective names one of availability, latency_p95, daily_cost, "
                                    "eval_pass_rate; this one names %s and %s", kind_name, objective_kinds[i]);
        kind_name = objective_kinds[i];
        *kind_out = (Kind) i;
      }
  if (kind_name == NULL)
    {
      report (checker, pointer, "an objective names one of availability, latency_p95, daily_cost, eval_pass_rate");
      return NULL;
    }

  target = json_object_get_member (spec, kind_name);
  {
    g_autofree char *target_pointer = g_strdup_printf ("%s/%s", pointer, kind_name);
    gint64 ms = 0;

    switch (*kind_out)
      {
      case KIND_AVAILABILITY:
      case KIND_EVAL:
        if (!parse_percent (target, target_out))
          report (checker, target_pointer, "%s wants a percentage below 100%%, such as 99.5%%", kind_name);
        break;
      case KIND_LATENCY:
        if (!parse_duration_node (target, &ms))
          report (checker, target_pointer, "latency_p95 wants a duration, such as 2s or 800ms");
        *target_out = (gdouble) ms;
        break;
      case KIND_COST:
      default:
        if (!parse_dollars (target, target_out))
          report (checker, target_pointer, "daily_cost wants dollars above 0, such as $5");
        break;
      }
  }
  scope = json_object_get_member (spec, "pipeline");
  if (scope != NULL && (!JSON_NODE_HOLDS_VALUE (scope) || json_node_get_value_type (scope) != G_TYPE_STRING))
    {
      g_autofree char *scope_pointer = g_strdup_printf ("%s/pipeline", pointer);

      report (checker, scope_pointer, "pipeline wants a pipeline's name");
    }
  if (sluice_diagnostics_count_errors (checker->diagnostics) > n_errors)
    return NULL;

  json_object_set_string_member (objective, "name", sluice_json_get_string (spec, "name") != NULL
                                                      ? sluice_json_get_string (spec, "name") : kind_name);
  json_object_set_string_member (objective, "objective", kind_name);
  if (scope != NULL)
    json_object_set_string_member (objective, "pipeline", json_node_get_string (scope));
  else
    json_object_set_null_member (objective, "pipeline");
  json_object_set_double_member (objective, "target", *target_out);
  return g_steal_pointer (&objective);
}

JsonObject *
sluice_report_evaluate_slo (SluiceReport  *self,
                            const char    *path,
                            GDateTime     *end,
                            GPtrArray     *diagnostics,
                            GError       **error)
{
  g_autoptr(SluiceDocument) doc = NULL;
  g_autoptr(JsonObject) slo = NULL;
  g_autoptr(JsonArray) results = json_array_new ();
  g_autoptr(GPtrArray) objectives = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  g_autoptr(GArray) kinds = g_array_new (FALSE, FALSE, sizeof (Kind));
  g_autoptr(GArray) targets = g_array_new (FALSE, FALSE, sizeof (gdouble));
  g_autoptr(GDateTime) start = NULL;
  g_autofree char *start_text = NULL;
  g_autofree char *end_text = NULL;
  Checker checker = { NULL, diagnostics };
  gint64 window_ms = DEFAULT_WINDOW_MS;
  JsonObject *root;
  JsonNode *node;
  guint exhausted = 0;

  doc = sluice_document_load_file (path, diagnostics);
  if (doc == NULL)
    return NULL;
  checker.doc = doc;
  node = sluice_document_get_root (doc);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      report (&checker, "", "an SLO file is a mapping with 'objectives' (and optionally 'window')");
      return NULL;
    }
  root = json_node_get_object (node);
  check_members (&checker, root, "", top_members);
  node = json_object_get_member (root, "window");
  if (node != NULL && !parse_duration_node (node, &window_ms))
    report (&checker, "/window", "window wants a duration, such as 30d");
  /* Windows are rolling back from now: past 10 years the start is not a date. */
  else if (node != NULL && (window_ms < G_TIME_SPAN_HOUR / 1000 || window_ms > 3650 * (gint64) DAY_MS))
    report (&checker, "/window", "window wants a duration from 1h to 3650d");
  node = json_object_get_member (root, "objectives");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node) || json_array_get_length (json_node_get_array (node)) == 0)
    report (&checker, node != NULL ? "/objectives" : "",
            "'objectives' wants a list of objectives, such as [{availability: 99.5%%}]");
  else
    for (guint i = 0; i < json_array_get_length (json_node_get_array (node)); i++)
      {
        Kind kind = KIND_AVAILABILITY;
        gdouble target = 0;
        JsonObject *objective = check_objective (&checker, json_array_get_element (json_node_get_array (node), i),
                                                 i, &kind, &target);

        if (objective != NULL)
          {
            g_ptr_array_add (objectives, objective);
            g_array_append_val (kinds, kind);
            g_array_append_val (targets, target);
          }
      }
  if (sluice_diagnostics_count_errors (diagnostics) > 0)
    return NULL;

  start = g_date_time_add (end, -window_ms * 1000);
  start_text = sluice_report_format_time (start);
  end_text = sluice_report_format_time (end);
  for (guint i = 0; i < objectives->len; i++)
    {
      JsonObject *objective = g_ptr_array_index (objectives, i);
      Kind kind = g_array_index (kinds, Kind, i);

      if (kind == KIND_EVAL)
        {
          json_object_set_string_member (objective, "status", "not_measurable");
          json_object_set_string_member (objective, "message",
                                         "evals are not built yet: the ledger holds no eval results, "
                                         "so the eval pass rate cannot be measured");
        }
      else if (!evaluate (self, objective, kind, g_array_index (targets, gdouble, i),
                          sluice_json_get_string (objective, "pipeline"), end, window_ms, error))
        return NULL;
      if (g_strcmp0 (sluice_json_get_string (objective, "status"), "exhausted") == 0)
        exhausted++;
      json_array_add_object_element (results, json_object_ref (objective));
    }

  slo = json_object_new ();
  json_object_set_string_member (slo, "file", path);
  json_object_set_int_member (slo, "window_days", window_ms / DAY_MS);
  json_object_set_int_member (slo, "window_ms", window_ms);
  json_object_set_string_member (slo, "window_start", start_text);
  json_object_set_string_member (slo, "window_end", end_text);
  json_object_set_int_member (slo, "exhausted", exhausted);
  json_object_set_array_member (slo, "objectives", g_steal_pointer (&results));
  return g_steal_pointer (&slo);
}

guint
sluice_report_slo_n_exhausted (JsonObject *slo)
{
  return slo != NULL ? (guint) sluice_json_get_int (slo, "exhausted", 0) : 0;
}
