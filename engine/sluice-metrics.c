/* sluice-metrics.c — counters and histograms from sink records, and their
 * Prometheus text exposition.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-metrics"

#include "sluice-metrics-private.h"

#include <string.h>

/* Seconds: from a fast cache hit to a slow reasoning model. */
static const gdouble latency_buckets[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
static const gdouble ttft_buckets[] = { 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

typedef enum { FAMILY_COUNTER, FAMILY_HISTOGRAM } FamilyType;

typedef struct
{
  gdouble  value;        /* counter */
  guint64 *buckets;      /* histogram: per bucket, not yet cumulative */
  gdouble  sum;
  guint64  count;
} Series;

typedef struct
{
  const char    *name;
  const char    *help;
  FamilyType     type;
  const gdouble *bounds;
  guint          n_bounds;
  GHashTable    *series;   /* rendered labels ("a=\"x\",b=\"y\"") → Series */
} Family;

struct _SluiceMetrics
{
  GMutex      mutex;
  GHashTable *families;    /* name → Family */
};

static void
series_free (Series *series)
{
  g_free (series->buckets);
  g_free (series);
}

static void
family_free (Family *family)
{
  g_hash_table_unref (family->series);
  g_free (family);
}

SluiceMetrics *
sluice_metrics_new (void)
{
  SluiceMetrics *self = g_new0 (SluiceMetrics, 1);

  g_mutex_init (&self->mutex);
  self->families = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) family_free);
  return self;
}

void
sluice_metrics_free (SluiceMetrics *self)
{
  if (self == NULL)
    return;
  g_hash_table_unref (self->families);
  g_mutex_clear (&self->mutex);
  g_free (self);
}

static Family *
family (SluiceMetrics *self,
        const char    *name,
        const char    *help,
        FamilyType     type,
        const gdouble *bounds,
        guint          n_bounds)
{
  Family *family = g_hash_table_lookup (self->families, name);

  if (family == NULL)
    {
      family = g_new0 (Family, 1);
      family->name = name;
      family->help = help;
      family->type = type;
      family->bounds = bounds;
      family->n_bounds = n_bounds;
      family->series = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) series_free);
      g_hash_table_insert (self->families, (gpointer) name, family);
    }
  return family;
}

/* The exposition format escapes backslash, double quote and line feed. */
static void
append_label (GString    *labels,
              const char *name,
              const char *value)
{
  if (value == NULL)
    return;
  if (labels->len > 0)
    g_string_append_c (labels, ',');
  g_string_append_printf (labels, "%s=\"", name);
  for (const char *p = value; *p != '\0'; p++)
    switch (*p)
      {
      case '\\': g_string_append (labels, "\\\\"); break;
      case '"': g_string_append (labels, "\\\""); break;
      case '\n': g_string_append (labels, "\\n"); break;
      default: g_string_append_c (labels, *p); break;
      }
  g_string_append_c (labels, '"');
}

/* Labels as name, value pairs, NULL-terminated; a NULL value is left out. */
static char *
labels_of (const char *first_name,
           ...)
{
  GString *labels = g_string_new (NULL);
  va_list args;

  va_start (args, first_name);
  for (const char *name = first_name; name != NULL; name = va_arg (args, const char *))
    append_label (labels, name, va_arg (args, const char *));
  va_end (args);
  return g_string_free (labels, FALSE);
}

static Series *
series (Family *family,
        char   *labels)   /* taken */
{
  Series *series = g_hash_table_lookup (family->series, labels);

  if (series == NULL)
    {
      series = g_new0 (Series, 1);
      if (family->type == FAMILY_HISTOGRAM)
        series->buckets = g_new0 (guint64, family->n_bounds);
      g_hash_table_insert (family->series, labels, series);
    }
  else
    g_free (labels);
  return series;
}

static void
observe (Family  *family,
         char    *labels,
         gdouble  value)
{
  Series *s = series (family, labels);

  for (guint i = 0; i < family->n_bounds; i++)
    if (value <= family->bounds[i])
      {
        s->buckets[i]++;
        break;
      }
  s->sum += value;
  s->count++;
}

static void
count (Family  *family,
       char    *labels,
       gdouble  by)
{
  series (family, labels)->value += by;
}

/* "the value or NULL": a JSON null, a missing member, an empty string. */
static const char *
string_or_null (JsonObject *record,
                const char *member)
{
  const char *value = sluice_json_get_string (record, member);

  return value != NULL && *value != '\0' ? value : NULL;
}

static gboolean
number (JsonObject *record,
        const char *member,
        gdouble    *out)
{
  JsonNode *node = json_object_get_member (record, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_INT64:
    case G_TYPE_DOUBLE:
      *out = json_node_get_double (node);
      return TRUE;
    case G_TYPE_BOOLEAN:
      *out = json_node_get_boolean (node);
      return TRUE;
    default:
      return FALSE;
    }
}

/* The attempt's target as the ledger names it; older rows have only
 * provider and model. */
static char *
target_of (JsonObject *record)
{
  const char *target = string_or_null (record, "target");

  if (target != NULL)
    return g_strdup (target);
  if (string_or_null (record, "provider") != NULL && string_or_null (record, "model") != NULL)
    return g_strdup_printf ("%s/%s", string_or_null (record, "provider"), string_or_null (record, "model"));
  return NULL;
}

static void
add_request (SluiceMetrics *self,
             JsonObject    *record)
{
  const char *pipeline = string_or_null (record, "pipeline");
  gdouble value;

  count (family (self, "sluice_requests_total", "Requests by final outcome.", FAMILY_COUNTER, NULL, 0),
         labels_of ("pipeline", pipeline, "outcome", string_or_null (record, "outcome"),
                    "error_kind", string_or_null (record, "error_kind"), NULL), 1);
  if (number (record, "latency_ms", &value))
    observe (family (self, "sluice_request_latency_seconds", "Time from a request's start to its end.",
                     FAMILY_HISTOGRAM, latency_buckets, G_N_ELEMENTS (latency_buckets)),
             labels_of ("pipeline", pipeline, NULL), value / 1000);
  if (number (record, "cache_hit", &value))
    count (family (self, "sluice_cache_requests_total", "Requests that looked the cache up, by result.",
                   FAMILY_COUNTER, NULL, 0),
           labels_of ("pipeline", pipeline, "result", value != 0 ? "hit" : "miss", NULL), 1);
}

static void
add_attempt (SluiceMetrics *self,
             JsonObject    *record)
{
  static const struct { const char *member; const char *kind; } tokens[] = {
    { "prompt_tokens", "prompt" }, { "completion_tokens", "completion" }, { "cached_tokens", "cached" },
    { "cache_write_tokens", "cache_write" }, { "reasoning_tokens", "reasoning" },
  };
  g_autofree char *target = target_of (record);
  gdouble value;

  count (family (self, "sluice_attempts_total", "Provider attempts by outcome.", FAMILY_COUNTER, NULL, 0),
         labels_of ("target", target, "outcome", string_or_null (record, "outcome"),
                    "error_kind", string_or_null (record, "error_kind"), NULL), 1);
  for (guint i = 0; i < G_N_ELEMENTS (tokens); i++)
    if (number (record, tokens[i].member, &value) && value > 0)
      count (family (self, "sluice_tokens_total", "Tokens billed by attempts, by kind.", FAMILY_COUNTER, NULL, 0),
             labels_of ("target", target, "kind", tokens[i].kind, NULL), value);
  if (number (record, "cost_usd", &value))
    count (family (self, "sluice_cost_usd_total", "Known cost of attempts in US dollars.", FAMILY_COUNTER, NULL, 0),
           labels_of ("target", target, NULL), value);
  else
    count (family (self, "sluice_cost_unknown_attempts_total",
                   "Attempts whose cost is unknown (no price in the catalog).", FAMILY_COUNTER, NULL, 0),
           labels_of ("target", target, NULL), 1);
  if (number (record, "ttft_ms", &value))
    observe (family (self, "sluice_ttft_seconds", "Time to the first token of streamed attempts.",
                     FAMILY_HISTOGRAM, ttft_buckets, G_N_ELEMENTS (ttft_buckets)),
             labels_of ("target", target, NULL), value / 1000);
}

static void
add_event (SluiceMetrics *self,
           JsonObject    *record)
{
  count (family (self, "sluice_events_total",
                 "Breaker transitions, budget refusals and sink failures.", FAMILY_COUNTER, NULL, 0),
         labels_of ("event", string_or_null (record, "event"), "target", string_or_null (record, "target"), NULL), 1);
}

void
sluice_metrics_add_record (SluiceMetrics *self,
                           JsonObject    *record)
{
  const char *type;

  g_return_if_fail (self != NULL);
  g_return_if_fail (record != NULL);

  type = sluice_json_get_string (record, "type");
  g_mutex_lock (&self->mutex);
  if (g_strcmp0 (type, "request") == 0)
    add_request (self, record);
  else if (g_strcmp0 (type, "attempt") == 0)
    add_attempt (self, record);
  else if (g_strcmp0 (type, "event") == 0)
    add_event (self, record);
  g_mutex_unlock (&self->mutex);
}

/* Whole numbers as such, others with enough digits to round-trip the
 * sums the tests expect, without float noise. */
static void
append_number (GString *out,
               gdouble  value)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];

  if (value == (gdouble) (gint64) value && ABS (value) < 1e15)
    g_string_append_printf (out, "%" G_GINT64_FORMAT, (gint64) value);
  else
    g_string_append (out, g_ascii_formatd (buffer, sizeof buffer, "%.15g", value));
}

static void
append_sample (GString    *out,
               const char *name,
               const char *suffix,
               const char *labels,
               const char *extra,
               gdouble     value)
{
  gboolean any = *labels != '\0' || extra != NULL;

  g_string_append_printf (out, "%s%s%s%s%s%s%s ", name, suffix, any ? "{" : "", labels,
                          *labels != '\0' && extra != NULL ? "," : "", extra != NULL ? extra : "",
                          any ? "}" : "");
  append_number (out, value);
  g_string_append_c (out, '\n');
}

static gint
compare_strings (gconstpointer a,
                 gconstpointer b,
                 gpointer      user_data)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static void
render_family (GString *out,
               Family  *family)
{
  g_autofree gpointer *keys = (gpointer *) g_hash_table_get_keys_as_array (family->series, NULL);
  guint n = g_hash_table_size (family->series);

  g_qsort_with_data (keys, (gint) n, sizeof (gpointer), compare_strings, NULL);
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", family->name, family->help, family->name,
                          family->type == FAMILY_COUNTER ? "counter" : "histogram");
  for (guint i = 0; i < n; i++)
    {
      const char *labels = keys[i];
      Series *s = g_hash_table_lookup (family->series, labels);
      guint64 cumulative = 0;

      if (family->type == FAMILY_COUNTER)
        {
          append_sample (out, family->name, "", labels, NULL, s->value);
          continue;
        }
      for (guint b = 0; b < family->n_bounds; b++)
        {
          char bound[G_ASCII_DTOSTR_BUF_SIZE];
          g_autofree char *le = NULL;

          cumulative += s->buckets[b];
          le = g_strdup_printf ("le=\"%s\"", g_ascii_formatd (bound, sizeof bound, "%g", family->bounds[b]));
          append_sample (out, family->name, "_bucket", labels, le, (gdouble) cumulative);
        }
      append_sample (out, family->name, "_bucket", labels, "le=\"+Inf\"", (gdouble) s->count);
      append_sample (out, family->name, "_sum", labels, NULL, s->sum);
      append_sample (out, family->name, "_count", labels, NULL, (gdouble) s->count);
    }
}

char *
sluice_metrics_render (SluiceMetrics *self)
{
  GString *out = g_string_new (NULL);
  g_autofree gpointer *names = NULL;
  guint n;

  g_return_val_if_fail (self != NULL, NULL);

  g_mutex_lock (&self->mutex);
  names = (gpointer *) g_hash_table_get_keys_as_array (self->families, &n);
  g_qsort_with_data (names, (gint) n, sizeof (gpointer), compare_strings, NULL);
  for (guint i = 0; i < n; i++)
    render_family (out, g_hash_table_lookup (self->families, names[i]));
  g_mutex_unlock (&self->mutex);
  return g_string_free (out, FALSE);
}

/* ---- a ledger file ------------------------------------------------------------------ */

static gboolean
has_table (const char  *path,
           const char  *table,
           gboolean    *out,
           GError     **error)
{
  g_autofree char *sql = g_strdup_printf ("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' "
                                          "AND name = '%s'", table);
  g_autoptr(JsonArray) rows = sluice_db_query (path, sql, error);

  if (rows == NULL)
    return FALSE;
  *out = json_object_get_int_member (json_array_get_object_element (rows, 0), "n") > 0;
  return TRUE;
}

static gboolean
replay (SluiceMetrics  *self,
        const char     *path,
        const char     *table,
        const char     *type,
        const char     *since,
        GError        **error)
{
  g_autofree char *sql = NULL;
  g_autoptr(JsonArray) rows = NULL;
  gboolean present;

  /* A ledger older than a table has none of its rows. */
  if (!has_table (path, table, &present, error))
    return FALSE;
  if (!present)
    return TRUE;
  sql = since != NULL ? g_strdup_printf ("SELECT * FROM %s WHERE time >= '%s'", table, since)
                      : g_strdup_printf ("SELECT * FROM %s", table);
  rows = sluice_db_query (path, sql, error);
  if (rows == NULL)
    return FALSE;
  for (guint i = 0; i < json_array_get_length (rows); i++)
    {
      JsonObject *row = json_array_get_object_element (rows, i);

      json_object_set_string_member (row, "type", type);
      sluice_metrics_add_record (self, row);
    }
  return TRUE;
}

char *
sluice_metrics_render_ledger (const char  *ledger_path,
                              const char  *since,
                              GError     **error)
{
  g_autoptr(SluiceMetrics) self = NULL;

  g_return_val_if_fail (ledger_path != NULL, NULL);

  /* Times are quoted into the query: only what an ISO-8601 time holds. */
  if (since != NULL && (*since == '\0' || strspn (since, "0123456789-:.TZ+") != strlen (since)))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                   "'%s' is not an ISO-8601 time (such as 2026-12-04T00:00:00Z)", since);
      return NULL;
    }
  if (!g_file_test (ledger_path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "%s: no such ledger", ledger_path);
      return NULL;
    }
  self = sluice_metrics_new ();
  if (!replay (self, ledger_path, "requests", "request", since, error) ||
      !replay (self, ledger_path, "attempts", "attempt", since, error) ||
      !replay (self, ledger_path, "events", "event", since, error))
    return NULL;
  return sluice_metrics_render (self);
}
