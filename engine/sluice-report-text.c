/* sluice-report-text.c — the report model as aligned text tables and as CSV.
 *
 * Both are views of the JSON model; nothing is computed here but the
 * formatting. A null figure ("no data") shows as "–" in text and as an
 * empty field in CSV, never as 0.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-report"

#include "sluice-report-private.h"

#define NO_DATA "–"

/* ---- cells ------------------------------------------------------------------------- */

static JsonNode *
member (JsonObject *object,
        const char *path)
{
  g_auto(GStrv) parts = g_strsplit (path, ".", 2);
  JsonNode *node = object != NULL ? json_object_get_member (object, parts[0]) : NULL;

  if (parts[1] != NULL && node != NULL && JSON_NODE_HOLDS_OBJECT (node))
    return member (json_node_get_object (node), parts[1]);
  return parts[1] != NULL ? NULL : node;
}

static gboolean
is_null (JsonNode *node)
{
  return node == NULL || JSON_NODE_HOLDS_NULL (node);
}

typedef enum { FMT_INT, FMT_RATE, FMT_USD, FMT_MS, FMT_RATIO, FMT_TEXT } Format;

static char *
format_value (JsonNode *node,
              Format    format)
{
  gdouble value;

  if (is_null (node) || !JSON_NODE_HOLDS_VALUE (node))
    return g_strdup (NO_DATA);
  if (format == FMT_TEXT || json_node_get_value_type (node) == G_TYPE_STRING)
    return g_strdup (json_node_get_string (node));
  value = json_node_get_double (node);
  switch (format)
    {
    case FMT_RATE:
      return g_strdup_printf ("%.1f%%", value * 100.0);
    case FMT_USD:
      return g_strdup_printf ("$%.6f", value);
    case FMT_MS:
      return value == (gint64) value ? g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) value)
                                     : g_strdup_printf ("%.1f", value);
    case FMT_RATIO:
      return g_strdup_printf ("%.2f", value);
    case FMT_INT:
    default:
      return g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) value);
    }
}

static char *
format_member (JsonObject *object,
               const char *path,
               Format      format)
{
  return format_value (member (object, path), format);
}

/* "rate_limited 3, timeout 1", or "–". */
static char *
format_counts (JsonObject *counts,
               const char *between,
               const char *separator)
{
  GString *text = g_string_new (NULL);
  /* In the order the report put them: most first. */
  g_autoptr(GList) names = counts != NULL ? json_object_get_members (counts) : NULL;

  for (GList *l = names; l != NULL; l = l->next)
    g_string_append_printf (text, "%s%s%s%" G_GINT64_FORMAT, text->len > 0 ? separator : "",
                            (const char *) l->data, between, json_object_get_int_member (counts, l->data));
  if (text->len == 0 && g_str_equal (between, " "))
    g_string_append (text, NO_DATA);
  return g_string_free (text, FALSE);
}

/* ---- aligned tables -------------------------------------------------------------------- */

typedef struct
{
  GPtrArray *rows;   /* GPtrArray* of char* */
  gboolean   text;   /* every column left-aligned: a list of figures */
} Table;

static Table *
table_new (const char *first,
           ...)
{
  Table *table = g_new0 (Table, 1);
  GPtrArray *header = g_ptr_array_new_with_free_func (g_free);
  va_list args;

  table->rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  va_start (args, first);
  for (const char *name = first; name != NULL; name = va_arg (args, const char *))
    g_ptr_array_add (header, g_strdup (name));
  va_end (args);
  g_ptr_array_add (table->rows, header);
  return table;
}

static GPtrArray *
table_add_row (Table *table)
{
  GPtrArray *row = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (table->rows, row);
  return row;
}

/* Labels and model names are anyone's data: a control character (an
 * escape sequence for the terminal, a newline that breaks the table)
 * is shown as U+FFFD, never written as it is. */
static char *
neutralize_controls (const char *cell)
{
  g_autofree char *valid = g_utf8_make_valid (cell, -1);   /* a hand-edited ledger may hold any bytes */
  GString *safe = g_string_sized_new (strlen (valid));

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      g_string_append_unichar (safe, c < 0x20 || (c >= 0x7f && c < 0xa0) ? 0xFFFD : c);
    }
  return g_string_free (safe, FALSE);
}

/* First column left-aligned, the others (figures) right-aligned. */
static void
table_print (Table   *table,
             GString *out)
{
  GPtrArray *header = g_ptr_array_index (table->rows, 0);
  g_autofree gsize *widths = g_new0 (gsize, header->len);

  for (guint r = 0; r < table->rows->len; r++)
    {
      GPtrArray *row = g_ptr_array_index (table->rows, r);

      for (guint c = 0; c < row->len; c++)
        {
          char *safe = neutralize_controls (g_ptr_array_index (row, c));

          g_free (row->pdata[c]);
          row->pdata[c] = safe;
        }
      for (guint c = 0; c < row->len && c < header->len; c++)
        widths[c] = MAX (widths[c], (gsize) g_utf8_strlen (g_ptr_array_index (row, c), -1));
    }
  for (guint r = 0; r < table->rows->len; r++)
    {
      GPtrArray *row = g_ptr_array_index (table->rows, r);
      GString *line = g_string_new ("  ");

      for (guint c = 0; c < row->len && c < header->len; c++)
        {
          const char *cell = g_ptr_array_index (row, c);
          gsize pad = widths[c] - g_utf8_strlen (cell, -1);

          if (c > 0)
            g_string_append (line, "  ");
          if (c > 0 && !table->text)
            for (gsize i = 0; i < pad; i++)
              g_string_append_c (line, ' ');
          g_string_append (line, cell);
          if ((c == 0 || table->text) && c + 1 < row->len)
            for (gsize i = 0; i < pad; i++)
              g_string_append_c (line, ' ');
        }
      g_string_append_printf (out, "%s\n", line->str);
      g_string_free (line, TRUE);
    }
  g_ptr_array_unref (table->rows);
  g_free (table);
}

/* ---- text ------------------------------------------------------------------------------- */

static void
add_pair (Table      *table,
          const char *name,
          char       *value)
{
  GPtrArray *row = table_add_row (table);

  g_ptr_array_add (row, g_strdup (name));
  g_ptr_array_add (row, value);
}

static char *
join3 (JsonObject *f,
       const char *a,
       const char *b,
       const char *c,
       Format      format)
{
  g_autofree char *x = format_member (f, a, format);
  g_autofree char *y = format_member (f, b, format);
  g_autofree char *z = c != NULL ? format_member (f, c, format) : NULL;

  return z != NULL ? g_strdup_printf ("%s / %s / %s", x, y, z) : g_strdup_printf ("%s / %s", x, y);
}

static void
print_totals (JsonObject *f,
              GString    *out)
{
  Table *table = table_new ("figure", "value", NULL);

  table->text = TRUE;
  g_autofree char *cost = format_member (f, "cost_usd", FMT_USD);
  g_autofree char *hits = format_member (f, "cache_hits", FMT_INT);
  g_autofree char *hit_rate = format_member (f, "cache_hit_rate", FMT_RATE);
  g_autofree char *compliance_rate = format_member (f, "compliance.rate", FMT_RATE);
  g_autofree char *compliance = join3 (json_object_get_object_member (f, "compliance"), "valid_first_try",
                                       "valid_after_correction", "valid_after_repair", FMT_INT);
  g_autofree char *invalid = format_member (f, "compliance.invalid", FMT_INT);
  gint64 unknown = sluice_json_get_int (f, "cost_unknown_requests", 0);

  add_pair (table, "requests", format_member (f, "requests", FMT_INT));
  add_pair (table, "succeeded / failed", join3 (f, "succeeded", "failed", NULL, FMT_INT));
  add_pair (table, "error rate", format_member (f, "error_rate", FMT_RATE));
  add_pair (table, "failed requests by kind",
            format_counts (json_object_get_object_member (f, "errors_by_kind"), " ", ", "));
  add_pair (table, "timeout rate (attempts)", format_member (f, "timeout_rate", FMT_RATE));
  add_pair (table, "circuit-breaker trips", format_member (f, "breaker_trips", FMT_INT));
  add_pair (table, "fallback share", format_member (f, "fallback_share", FMT_RATE));
  add_pair (table, "attempts", format_member (f, "attempts", FMT_INT));
  add_pair (table, "retries per success", format_member (f, "retries_per_success", FMT_RATIO));
  add_pair (table, "token waste ratio", format_member (f, "waste_ratio", FMT_RATE));
  add_pair (table, "latency p50 / p95 / p99 (ms)", join3 (f, "latency_ms.p50", "latency_ms.p95", "latency_ms.p99", FMT_MS));
  add_pair (table, "TTFT p50 / p95 / p99 (ms)", join3 (f, "ttft_ms.p50", "ttft_ms.p95", "ttft_ms.p99", FMT_MS));
  add_pair (table, "tokens prompt / completion", join3 (f, "prompt_tokens", "completion_tokens", NULL, FMT_INT));
  add_pair (table, "tokens cached / reasoning", join3 (f, "cached_tokens", "reasoning_tokens", NULL, FMT_INT));
  add_pair (table, "cost", unknown > 0 ? g_strdup_printf ("%s (+ %" G_GINT64_FORMAT " requests of unknown cost)",
                                                          cost, unknown)
                                       : g_strdup (cost));
  add_pair (table, "cost per request", format_member (f, "cost_per_request", FMT_USD));
  add_pair (table, "sessions", format_member (f, "sessions", FMT_INT));
  add_pair (table, "cost per session", format_member (f, "cost_per_session", FMT_USD));
  add_pair (table, "cache hits (hit rate)", g_strdup_printf ("%s (%s)", hits, hit_rate));
  add_pair (table, "format compliance", g_strdup_printf ("%s valid (first try / after correction / after repair: %s; invalid: %s)",
                                                         compliance_rate, compliance, invalid));
  table_print (table, out);
}

static void
print_groups (JsonObject *report,
              GString    *out)
{
  JsonArray *groups = json_object_get_array_member (report, "groups");
  const char *group_by = sluice_json_get_string (report, "group_by");
  Table *table;

  if (group_by == NULL)
    return;
  g_string_append_printf (out, "\nBy %s\n", group_by);
  table = table_new (group_by, "requests", "error rate", "timeouts", "trips", "fallback", "retries/ok",
                     "waste", "p50 ms", "p95 ms", "p99 ms", "ttft p50", "prompt tok", "compl tok", "cost",
                     "unknown cost", "cost/req", "cache hit", "compliant", NULL);
  for (guint i = 0; i < json_array_get_length (groups); i++)
    {
      JsonObject *g = json_array_get_object_element (groups, i);
      GPtrArray *row = table_add_row (table);

      g_ptr_array_add (row, is_null (member (g, "key")) ? g_strdup ("(none)") : format_member (g, "key", FMT_TEXT));
      g_ptr_array_add (row, format_member (g, "requests", FMT_INT));
      g_ptr_array_add (row, format_member (g, "error_rate", FMT_RATE));
      g_ptr_array_add (row, format_member (g, "timeout_rate", FMT_RATE));
      g_ptr_array_add (row, format_member (g, "breaker_trips", FMT_INT));
      g_ptr_array_add (row, format_member (g, "fallback_share", FMT_RATE));
      g_ptr_array_add (row, format_member (g, "retries_per_success", FMT_RATIO));
      g_ptr_array_add (row, format_member (g, "waste_ratio", FMT_RATE));
      g_ptr_array_add (row, format_member (g, "latency_ms.p50", FMT_MS));
      g_ptr_array_add (row, format_member (g, "latency_ms.p95", FMT_MS));
      g_ptr_array_add (row, format_member (g, "latency_ms.p99", FMT_MS));
      g_ptr_array_add (row, format_member (g, "ttft_ms.p50", FMT_MS));
      g_ptr_array_add (row, format_member (g, "prompt_tokens", FMT_INT));
      g_ptr_array_add (row, format_member (g, "completion_tokens", FMT_INT));
      g_ptr_array_add (row, format_member (g, "cost_usd", FMT_USD));
      g_ptr_array_add (row, format_member (g, "cost_unknown_requests", FMT_INT));
      g_ptr_array_add (row, format_member (g, "cost_per_request", FMT_USD));
      g_ptr_array_add (row, format_member (g, "cache_hit_rate", FMT_RATE));
      g_ptr_array_add (row, format_member (g, "compliance.rate", FMT_RATE));
    }
  table_print (table, out);
}

static void
print_daily (JsonObject *report,
             GString    *out)
{
  JsonArray *daily = json_object_get_array_member (report, "daily");
  JsonArray *latency = json_object_get_array_member (report, "latency_daily");
  Table *table;

  g_string_append (out, "\nCost and tokens per day\n");
  table = table_new ("day", "model", "requests", "cost", "prompt tokens", "completion tokens", NULL);
  for (guint i = 0; i < json_array_get_length (daily); i++)
    {
      JsonObject *d = json_array_get_object_element (daily, i);
      GPtrArray *row = table_add_row (table);

      g_ptr_array_add (row, format_member (d, "day", FMT_TEXT));
      g_ptr_array_add (row, is_null (member (d, "model")) ? g_strdup ("(none)") : format_member (d, "model", FMT_TEXT));
      g_ptr_array_add (row, format_member (d, "requests", FMT_INT));
      g_ptr_array_add (row, format_member (d, "cost_usd", FMT_USD));
      g_ptr_array_add (row, format_member (d, "prompt_tokens", FMT_INT));
      g_ptr_array_add (row, format_member (d, "completion_tokens", FMT_INT));
    }
  table_print (table, out);

  g_string_append (out, "\nLatency per day (succeeded requests, ms)\n");
  table = table_new ("day", "p50", "p95", "p99", "ttft p50", NULL);
  for (guint i = 0; i < json_array_get_length (latency); i++)
    {
      JsonObject *d = json_array_get_object_element (latency, i);
      GPtrArray *row = table_add_row (table);

      g_ptr_array_add (row, format_member (d, "day", FMT_TEXT));
      g_ptr_array_add (row, format_member (d, "p50_ms", FMT_MS));
      g_ptr_array_add (row, format_member (d, "p95_ms", FMT_MS));
      g_ptr_array_add (row, format_member (d, "p99_ms", FMT_MS));
      g_ptr_array_add (row, format_member (d, "ttft_p50_ms", FMT_MS));
    }
  table_print (table, out);
}

static void
print_kinds_and_targets (JsonObject *report,
                         GString    *out)
{
  JsonObject *kinds = json_object_get_object_member (report, "error_kinds");
  JsonArray *served = json_object_get_array_member (report, "served_by");
  g_autoptr(GList) names = json_object_get_members (kinds);
  Table *table;

  g_string_append (out, "\nFailed attempts by error kind\n");
  table = table_new ("kind", "attempts", NULL);
  for (GList *l = names; l != NULL; l = l->next)
    add_pair (table, l->data, format_member (kinds, l->data, FMT_INT));
  table_print (table, out);

  g_string_append (out, "\nSucceeded requests by the target that answered\n");
  table = table_new ("target", "requests", "share", NULL);
  for (guint i = 0; i < json_array_get_length (served); i++)
    {
      JsonObject *s = json_array_get_object_element (served, i);
      GPtrArray *row = table_add_row (table);

      g_ptr_array_add (row, format_member (s, "target", FMT_TEXT));
      g_ptr_array_add (row, format_member (s, "requests", FMT_INT));
      g_ptr_array_add (row, format_member (s, "share", FMT_RATE));
    }
  table_print (table, out);
}

static char *
format_target (JsonObject *objective)
{
  const char *kind = sluice_json_get_string (objective, "objective");
  JsonNode *target = member (objective, "target");

  if (g_str_equal (kind, "latency_p95"))
    return g_strdup_printf ("%.0f ms", json_node_get_double (target));
  if (g_str_equal (kind, "daily_cost"))
    return g_strdup_printf ("$%.2f", json_node_get_double (target));
  return g_strdup_printf ("%g%%", json_node_get_double (target) * 100.0);
}

static char *
format_actual (JsonObject *objective)
{
  const char *kind = sluice_json_get_string (objective, "objective");

  if (g_str_equal (kind, "latency_p95") && !is_null (member (objective, "actual")))
    return g_strdup_printf ("%.0f ms", json_node_get_double (member (objective, "actual")));
  if (g_str_equal (kind, "latency_p95"))
    return g_strdup (NO_DATA);
  if (g_str_equal (kind, "daily_cost"))
    return format_member (objective, "actual", FMT_USD);
  return format_member (objective, "actual", FMT_RATE);
}

/* The SLO table as text cells, header first: the text report prints it,
 * the HTML page draws it. */
GPtrArray *
sluice_report_slo_rows (JsonObject *slo)
{
  JsonArray *objectives = json_object_get_array_member (slo, "objectives");
  GPtrArray *rows = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  static const char * const header[] = {
    "objective", "pipeline", "target", "actual", "requests", "budget used", "burn 1d", "burn 7d", "status", NULL
  };

  g_ptr_array_add (rows, g_strdupv ((GStrv) header));
  for (guint i = 0; i < json_array_get_length (objectives); i++)
    {
      JsonObject *o = json_array_get_object_element (objectives, i);
      JsonNode *consumed = member (o, "budget_consumed_pct");
      GStrv row = g_new0 (char *, G_N_ELEMENTS (header));

      row[0] = format_member (o, "name", FMT_TEXT);
      row[1] = is_null (member (o, "pipeline")) ? g_strdup ("(all)") : format_member (o, "pipeline", FMT_TEXT);
      row[2] = format_target (o);
      row[3] = json_object_has_member (o, "actual") ? format_actual (o) : g_strdup (NO_DATA);
      row[4] = format_member (o, "requests", FMT_INT);
      row[5] = is_null (consumed) ? g_strdup (NO_DATA) : g_strdup_printf ("%.1f%%", json_node_get_double (consumed));
      row[6] = format_member (o, "burn_rate_1d", FMT_RATIO);
      row[7] = format_member (o, "burn_rate_7d", FMT_RATIO);
      row[8] = format_member (o, "status", FMT_TEXT);
      g_ptr_array_add (rows, row);
    }
  return rows;
}

static void
print_slo (JsonObject *slo,
           GString    *out)
{
  JsonArray *objectives = json_object_get_array_member (slo, "objectives");
  g_autoptr(GPtrArray) rows = sluice_report_slo_rows (slo);
  GStrv header = g_ptr_array_index (rows, 0);
  Table *table;

  g_string_append_printf (out, "\nSLOs (%s; rolling window %s to %s)\n", sluice_json_get_string (slo, "file"),
                          sluice_json_get_string (slo, "window_start"), sluice_json_get_string (slo, "window_end"));
  table = table_new (header[0], header[1], header[2], header[3], header[4], header[5], header[6],
                     header[7], header[8], NULL);
  for (guint i = 1; i < rows->len; i++)
    {
      GStrv cells = g_ptr_array_index (rows, i);
      GPtrArray *row = table_add_row (table);

      for (guint c = 0; cells[c] != NULL; c++)
        g_ptr_array_add (row, g_strdup (cells[c]));
    }
  table_print (table, out);
  for (guint i = 0; i < json_array_get_length (objectives); i++)
    {
      JsonObject *o = json_array_get_object_element (objectives, i);

      if (sluice_json_get_string (o, "message") != NULL)
        g_string_append_printf (out, "  %s: %s\n", sluice_json_get_string (o, "name"),
                                sluice_json_get_string (o, "message"));
    }
}

char *
sluice_report_to_text (JsonObject *report)
{
  GString *out = g_string_new (NULL);
  JsonNode *slo = member (report, "slo");
  const char *since = sluice_json_get_string (report, "since");
  const char *until = sluice_json_get_string (report, "until");

  g_string_append_printf (out, "sluice report of %s\nrequests from %s to %s (generated %s)\n\nTotals\n",
                          sluice_json_get_string (report, "ledger"), since != NULL ? since : "the first",
                          until != NULL ? until : "now", sluice_json_get_string (report, "generated_at"));
  print_totals (json_object_get_object_member (report, "totals"), out);
  print_groups (report, out);
  print_daily (report, out);
  print_kinds_and_targets (report, out);
  if (!is_null (slo))
    print_slo (json_node_get_object (slo), out);
  return g_string_free (out, FALSE);
}

/* ---- CSV ---------------------------------------------------------------------------------- */

static const char * const csv_columns[] = {
  "requests", "succeeded", "failed", "error_rate", "errors_by_kind", "timeout_rate", "breaker_trips",
  "fallback_share", "retries_per_success", "attempts", "waste_ratio",
  "latency_ms.p50", "latency_ms.p95", "latency_ms.p99", "ttft_ms.p50", "ttft_ms.p95", "ttft_ms.p99",
  "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "cost_usd",
  "cost_unknown_requests", "cost_per_request", "sessions", "cost_per_session", "cache_hits",
  "cache_hit_rate", "compliance.valid_first_try", "compliance.valid_after_correction",
  "compliance.valid_after_repair", "compliance.invalid", "compliance.rate", NULL
};

/* RFC 4180: a field with a comma, quote or line break is quoted. */
static void
append_csv_field (GString    *out,
                  const char *text)
{
  if (strpbrk (text, ",\"\r\n") == NULL)
    {
      g_string_append (out, text);
      return;
    }
  g_string_append_c (out, '"');
  for (const char *p = text; *p != '\0'; p++)
    {
      if (*p == '"')
        g_string_append_c (out, '"');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

static void
append_csv_row (GString    *out,
                const char *scope,
                JsonNode   *key,
                JsonObject *figures)
{
  append_csv_field (out, scope);
  g_string_append_c (out, ',');
  if (!is_null (key))
    append_csv_field (out, json_node_get_string (key));
  for (guint i = 0; csv_columns[i] != NULL; i++)
    {
      JsonNode *node = member (figures, csv_columns[i]);
      char buffer[G_ASCII_DTOSTR_BUF_SIZE];

      g_string_append_c (out, ',');
      if (g_str_equal (csv_columns[i], "errors_by_kind"))
        {
          g_autofree char *counts = format_counts (json_object_get_object_member (figures, "errors_by_kind"), "=", ";");

          append_csv_field (out, counts);
        }
      else if (is_null (node))
        continue;
      else if (json_node_get_value_type (node) == G_TYPE_DOUBLE)
        g_string_append (out, g_ascii_formatd (buffer, sizeof buffer, "%.10g", json_node_get_double (node)));
      else
        g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
    }
  g_string_append (out, "\r\n");
}

char *
sluice_report_to_csv (JsonObject *report)
{
  GString *out = g_string_new ("scope,key");
  JsonArray *groups = json_object_get_array_member (report, "groups");
  const char *group_by = sluice_json_get_string (report, "group_by");

  for (guint i = 0; csv_columns[i] != NULL; i++)
    g_string_append_printf (out, ",%s", csv_columns[i]);
  g_string_append (out, "\r\n");
  append_csv_row (out, "total", NULL, json_object_get_object_member (report, "totals"));
  for (guint i = 0; groups != NULL && i < json_array_get_length (groups); i++)
    {
      JsonObject *group = json_array_get_object_element (groups, i);

      append_csv_row (out, group_by, json_object_get_member (group, "key"), group);
    }
  return g_string_free (out, FALSE);
}
