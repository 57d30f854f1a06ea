/* sluice-report-html.c — `sluice report --html FILE`: the report model
 * as one page a person would rather look at than read.
 *
 * The page is self-contained: inline CSS, charts drawn here as inline SVG,
 * no script, no font or image to fetch (a Content-Security-Policy of
 * default-src 'none' says so to the browser, which then refuses anything
 * that would reach out). Every string from the ledger (models, targets,
 * labels, error kinds) is user data and HTML-escaped; every null of the
 * model ("no data") shows as an en dash, never as 0; a report with no
 * traffic says so instead of drawing empty charts, and no scale divides
 * by a zero maximum.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "sluice-report"

#include "sluice.h"
#include "sluice-report-html-private.h"
#include "sluice-report-private.h"

#include <math.h>
#include <string.h>

#define NO_DATA "\xe2\x80\x93"   /* – */
/* Series the cost chart tells apart; the cheaper models are "other". */
#define MAX_SERIES 8
#define MAX_LABEL_CHARS 32

/* Chart geometry, in SVG user units (the SVG scales to the page width). */
#define CHART_W 760.0
#define CHART_H 260.0
#define PLOT_LEFT 64.0
#define PLOT_RIGHT 12.0
#define PLOT_TOP 12.0
#define PLOT_BOTTOM 28.0
#define ROW_H 26.0
#define LABEL_W 230.0

static const char * const palette[MAX_SERIES] = {
  "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
};
static const char *other_colour = "#bab0ac";

static const char *style =
  "body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1f2430;"
  "background:#f5f6f8;margin:0;padding:24px 32px 48px}"
  "main{max-width:1100px;margin:0 auto}"
  "h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:0 0 12px}"
  ".range{color:#5b6473;margin:0 0 20px}"
  ".figures{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px;margin-bottom:16px}"
  ".figure{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}"
  ".figure .value{font-size:28px;font-weight:600;letter-spacing:-.5px}"
  ".figure .label{color:#5b6473;font-size:13px;text-transform:uppercase;letter-spacing:.4px}"
  ".figure .sub{color:#5b6473;font-size:13px}"
  ".details{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:4px 24px;"
  "background:#fff;border-radius:8px;padding:12px 16px;margin-bottom:16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}"
  ".details div{display:flex;justify-content:space-between;border-bottom:1px solid #eef0f3;padding:3px 0}"
  ".details span:first-child{color:#5b6473}"
  "section{background:#fff;border-radius:8px;padding:16px;margin-bottom:16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}"
  "svg{width:100%;height:auto;display:block}"
  "svg text{font-size:12px;fill:#5b6473}"
  "svg .grid{stroke:#e3e6eb;stroke-width:1}"
  "svg .line{fill:none;stroke-width:2.5}"
  ".legend{list-style:none;padding:0;margin:8px 0 0;display:flex;flex-wrap:wrap;gap:6px 18px;font-size:13px}"
  ".swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}"
  ".slo-ok{color:#1a7f37;font-weight:600}.slo-warning{color:#9a6700;font-weight:600}"
  ".slo-exhausted{color:#cf222e;font-weight:600}"
  ".note,.empty{color:#5b6473}.empty{font-size:18px;text-align:center;padding:40px 0}"
  "table{border-collapse:collapse;width:100%;font-size:13px;font-variant-numeric:tabular-nums}"
  "th,td{padding:6px 8px;text-align:right;border-bottom:1px solid #eef0f3;white-space:nowrap}"
  "th:first-child,td:first-child{text-align:left;white-space:normal;min-width:12em;max-width:24em;"
  "overflow-wrap:anywhere}"
  "th{color:#5b6473;font-weight:600}tr.total td{font-weight:600;border-top:2px solid #d5d9e0}"
  ".scroll{overflow-x:auto}";

/* ---- reading the model ------------------------------------------------- */

/* A finite number at name; FALSE for null, missing or anything else. */
static gboolean
get_number (JsonObject *object,
            const char *name,
            gdouble    *out)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, name) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return FALSE;
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_INT64:
      *out = (gdouble) json_node_get_int (node);
      break;
    case G_TYPE_DOUBLE:
      *out = json_node_get_double (node);
      break;
    default:
      return FALSE;
    }
  return isfinite (*out);
}

static gdouble
get_number_or_zero (JsonObject *object,
                    const char *name)
{
  gdouble value = 0;

  return get_number (object, name, &value) ? value : 0;
}

static JsonObject *
get_object (JsonObject *object,
            const char *name)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, name) : NULL;

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static JsonArray *
get_array (JsonObject *object,
           const char *name)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, name) : NULL;

  return node != NULL && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

/* ---- writing text ------------------------------------------------------ */

/* User data, escaped for text and attribute values alike. */
static void
append_escaped (GString    *out,
                const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text != NULL ? text : "", -1);
  g_autofree char *escaped = g_markup_escape_text (valid, -1);

  g_string_append (out, escaped);
}

/* A label cut to fit its column; the whole of it is in the <title>. */
static void
append_short (GString    *out,
              const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text != NULL ? text : "", -1);

  if (g_utf8_strlen (valid, -1) <= MAX_LABEL_CHARS)
    {
      append_escaped (out, valid);
      return;
    }
  {
    g_autofree char *cut = g_utf8_substring (valid, 0, MAX_LABEL_CHARS - 1);

    append_escaped (out, cut);
    g_string_append (out, "\xe2\x80\xa6");   /* … */
  }
}

/* A coordinate: never in the locale's notation. */
static void
append_coord (GString *out,
              gdouble  value)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append (out, g_ascii_formatd (buffer, sizeof buffer, "%.1f", value));
}

static void
append_grouped (GString *out,
                gdouble  value)
{
  g_autofree char *digits = g_strdup_printf ("%.0f", fabs (value));
  gsize n = strlen (digits);

  if (value < 0)
    g_string_append_c (out, '-');
  for (gsize i = 0; i < n; i++)
    {
      if (i > 0 && (n - i) % 3 == 0)
        g_string_append_c (out, ',');
      g_string_append_c (out, digits[i]);
    }
}

static void
append_usd (GString *out,
            gdouble  value)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append_c (out, '$');
  if (value == 0)
    g_string_append_c (out, '0');
  else if (fabs (value) >= 1000)
    append_grouped (out, value);
  else
    g_string_append (out, g_ascii_formatd (buffer, sizeof buffer, fabs (value) >= 1 ? "%.2f" : "%.4f", value));
}

static void
append_ms (GString *out,
           gdouble  value)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];

  if (value >= 10000)
    g_string_append_printf (out, "%s s", g_ascii_formatd (buffer, sizeof buffer, "%.1f", value / 1000));
  else if (value >= 1000)
    g_string_append_printf (out, "%s s", g_ascii_formatd (buffer, sizeof buffer, "%.2f", value / 1000));
  else
    g_string_append_printf (out, "%.0f ms", value);
}

static void
append_percent (GString *out,
                gdouble  share)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];

  g_string_append_printf (out, "%s%%", g_ascii_formatd (buffer, sizeof buffer, "%.1f", share * 100));
}

typedef enum {
  AS_COUNT,
  AS_RATE,
  AS_MS,
  AS_USD,
  AS_RATIO,
} Unit;

/* The member at name in its unit, or the en dash when it is null. */
static void
append_figure (GString    *out,
               JsonObject *object,
               const char *name,
               Unit        unit)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];
  gdouble value;

  if (!get_number (object, name, &value))
    {
      g_string_append (out, NO_DATA);
      return;
    }
  switch (unit)
    {
    case AS_COUNT:
      append_grouped (out, value);
      break;
    case AS_RATE:
      append_percent (out, value);
      break;
    case AS_MS:
      append_ms (out, value);
      break;
    case AS_USD:
      append_usd (out, value);
      break;
    case AS_RATIO:
    default:
      g_string_append (out, g_ascii_formatd (buffer, sizeof buffer, "%.2f", value));
      break;
    }
}

/* ---- the header -------------------------------------------------------- */

static void
append_range (GString    *out,
              JsonObject *report)
{
  const char *since = sluice_json_get_string (report, "since");
  const char *until = sluice_json_get_string (report, "until");
  const char *group_by = sluice_json_get_string (report, "group_by");
  const char *ledger = sluice_json_get_string (report, "ledger");
  const char *generated = sluice_json_get_string (report, "generated_at");

  g_string_append (out, "<p class=\"range\">");
  g_string_append (out, since != NULL ? "From " : "From the first request");
  if (since != NULL)
    append_escaped (out, since);
  g_string_append (out, until != NULL ? " to " : " to now");
  if (until != NULL)
    append_escaped (out, until);
  if (group_by != NULL)
    {
      g_string_append (out, " \xc2\xb7 grouped by ");
      append_escaped (out, group_by);
    }
  if (ledger != NULL)
    {
      g_string_append (out, " \xc2\xb7 ledger ");
      append_escaped (out, ledger);
    }
  if (generated != NULL)
    {
      g_string_append (out, " \xc2\xb7 generated ");
      append_escaped (out, generated);
    }
  g_string_append (out, "</p>\n");
}

static void
begin_figure (GString    *out,
              const char *label)
{
  g_string_append_printf (out, "<div class=\"figure\"><div class=\"label\">%s</div><div class=\"value\">", label);
}

static void
append_big_figures (GString    *out,
                    JsonObject *totals)
{
  JsonObject *latency = get_object (totals, "latency_ms");
  JsonObject *compliance = get_object (totals, "compliance");

  g_string_append (out, "<div class=\"figures\">\n");

  begin_figure (out, "Requests");
  append_figure (out, totals, "requests", AS_COUNT);
  g_string_append (out, "</div><div class=\"sub\">");
  append_figure (out, totals, "failed", AS_COUNT);
  g_string_append (out, " failed</div></div>\n");

  begin_figure (out, "Error rate");
  append_figure (out, totals, "error_rate", AS_RATE);
  g_string_append (out, "</div><div class=\"sub\">timeouts ");
  append_figure (out, totals, "timeout_rate", AS_RATE);
  g_string_append (out, "</div></div>\n");

  begin_figure (out, "p95 latency");
  append_figure (out, latency, "p95", AS_MS);
  g_string_append (out, "</div><div class=\"sub\">p50 ");
  append_figure (out, latency, "p50", AS_MS);
  g_string_append (out, " \xc2\xb7 p99 ");
  append_figure (out, latency, "p99", AS_MS);
  g_string_append (out, "</div></div>\n");

  begin_figure (out, "Cost");
  append_figure (out, totals, "cost_usd", AS_USD);
  g_string_append (out, "</div><div class=\"sub\">");
  append_figure (out, totals, "cost_per_request", AS_USD);
  g_string_append (out, " per request");
  if (get_number_or_zero (totals, "cost_unknown_requests") > 0)
    {
      g_string_append (out, " \xc2\xb7 ");
      append_figure (out, totals, "cost_unknown_requests", AS_COUNT);
      g_string_append (out, " of unknown cost");
    }
  g_string_append (out, "</div></div>\n");

  begin_figure (out, "Cache hit rate");
  append_figure (out, totals, "cache_hit_rate", AS_RATE);
  g_string_append (out, "</div><div class=\"sub\">");
  append_figure (out, totals, "cache_hits", AS_COUNT);
  g_string_append (out, " hits</div></div>\n");

  begin_figure (out, "Compliance rate");
  append_figure (out, compliance, "rate", AS_RATE);
  g_string_append (out, "</div><div class=\"sub\">");
  append_figure (out, compliance, "valid_first_try", AS_COUNT);
  g_string_append (out, " valid first try</div></div>\n");

  g_string_append (out, "</div>\n");
}

static void
append_detail (GString    *out,
               const char *label,
               JsonObject *object,
               const char *name,
               Unit        unit)
{
  g_string_append_printf (out, "<div><span>%s</span><span>", label);
  append_figure (out, object, name, unit);
  g_string_append (out, "</span></div>\n");
}

/* The figures that do not get a big box, each still on the page. */
static void
append_details (GString    *out,
                JsonObject *totals)
{
  JsonObject *ttft = get_object (totals, "ttft_ms");
  JsonObject *compliance = get_object (totals, "compliance");

  g_string_append (out, "<div class=\"details\">\n");
  append_detail (out, "Succeeded", totals, "succeeded", AS_COUNT);
  append_detail (out, "Attempts", totals, "attempts", AS_COUNT);
  append_detail (out, "Retries per success", totals, "retries_per_success", AS_RATIO);
  append_detail (out, "Fallback share", totals, "fallback_share", AS_RATE);
  append_detail (out, "Breaker trips", totals, "breaker_trips", AS_COUNT);
  append_detail (out, "Token waste ratio", totals, "waste_ratio", AS_RATE);
  append_detail (out, "TTFT p50", ttft, "p50", AS_MS);
  append_detail (out, "TTFT p95", ttft, "p95", AS_MS);
  append_detail (out, "TTFT p99", ttft, "p99", AS_MS);
  append_detail (out, "Prompt tokens", totals, "prompt_tokens", AS_COUNT);
  append_detail (out, "Completion tokens", totals, "completion_tokens", AS_COUNT);
  append_detail (out, "Cached tokens", totals, "cached_tokens", AS_COUNT);
  append_detail (out, "Reasoning tokens", totals, "reasoning_tokens", AS_COUNT);
  append_detail (out, "Sessions", totals, "sessions", AS_COUNT);
  append_detail (out, "Cost per session", totals, "cost_per_session", AS_USD);
  append_detail (out, "Requests of unknown cost", totals, "cost_unknown_requests", AS_COUNT);
  append_detail (out, "Valid after correction", compliance, "valid_after_correction", AS_COUNT);
  append_detail (out, "Valid after repair", compliance, "valid_after_repair", AS_COUNT);
  append_detail (out, "Invalid answers", compliance, "invalid", AS_COUNT);
  g_string_append (out, "</div>\n");
}

/* ---- chart parts ------------------------------------------------------- */

/* A round number at or above value, for the top of an axis. */
static gdouble
nice_ceiling (gdouble value)
{
  gdouble magnitude, fraction;

  if (!(value > 0))
    return 1;
  magnitude = pow (10, floor (log10 (value)));
  fraction = value / magnitude;
  if (fraction <= 1)
    return magnitude;
  if (fraction <= 2)
    return 2 * magnitude;
  if (fraction <= 5)
    return 5 * magnitude;
  return 10 * magnitude;
}

static void
begin_svg (GString    *out,
           const char *name,
           gdouble     height,
           const char *description)
{
  g_string_append_printf (out, "<svg class=\"chart\" data-chart=\"%s\" role=\"img\" viewBox=\"0 0 ", name);
  append_coord (out, CHART_W);
  g_string_append_c (out, ' ');
  append_coord (out, height);
  /* no xmlns: the HTML parser puts <svg> in its namespace */
  g_string_append (out, "\"><title>");
  append_escaped (out, description);
  g_string_append (out, "</title>\n");
}

/* Four grid lines and their labels, from 0 to top. */
static void
append_y_axis (GString *out,
               gdouble  top,
               Unit     unit)
{
  gdouble plot_h = CHART_H - PLOT_TOP - PLOT_BOTTOM;

  for (guint i = 0; i <= 4; i++)
    {
      gdouble value = top * i / 4;
      gdouble y = PLOT_TOP + plot_h - plot_h * i / 4;

      g_string_append (out, "<line class=\"grid\" x1=\"");
      append_coord (out, PLOT_LEFT);
      g_string_append (out, "\" x2=\"");
      append_coord (out, CHART_W - PLOT_RIGHT);
      g_string_append (out, "\" y1=\"");
      append_coord (out, y);
      g_string_append (out, "\" y2=\"");
      append_coord (out, y);
      g_string_append (out, "\"/><text text-anchor=\"end\" x=\"");
      append_coord (out, PLOT_LEFT - 6);
      g_string_append (out, "\" y=\"");
      append_coord (out, y + 4);
      g_string_append (out, "\">");
      if (unit == AS_USD)
        append_usd (out, value);
      else
        append_ms (out, value);
      g_string_append (out, "</text>\n");
    }
}

/* "2026-12-04" is shown as "12-04"; the year is in the range above. */
static void
append_day_label (GString    *out,
                  const char *day,
                  gdouble     x)
{
  g_string_append (out, "<text text-anchor=\"middle\" x=\"");
  append_coord (out, x);
  g_string_append (out, "\" y=\"");
  append_coord (out, CHART_H - 8);
  g_string_append (out, "\">");
  append_escaped (out, strlen (day) == 10 && day[4] == '-' ? day + 5 : day);
  g_string_append (out, "</text>\n");
}

static void
append_legend_item (GString    *out,
                    const char *colour,
                    const char *label)
{
  g_string_append_printf (out, "<li><span class=\"swatch\" style=\"background:%s\"></span>", colour);
  append_escaped (out, label);
  g_string_append (out, "</li>");
}

static gint
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

/* ---- cost per day, stacked by model ------------------------------------ */

typedef struct {
  char     *model;
  gdouble   total;
  gboolean  known;   /* some cost of it is known (a free model's is 0) */
} Model;

static gint
compare_models (gconstpointer a,
                gconstpointer b)
{
  const Model *ma = *(Model * const *) a, *mb = *(Model * const *) b;

  if (ma->total != mb->total)
    return ma->total > mb->total ? -1 : 1;
  return g_strcmp0 (ma->model, mb->model);
}

static void
model_free (Model *model)
{
  g_free (model->model);
  g_free (model);
}

static void
append_cost_chart (GString    *out,
                   JsonArray  *daily)
{
  g_autoptr(GHashTable) day_index = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) models_by_name = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) days = g_ptr_array_new ();
  g_autoptr(GPtrArray) models = g_ptr_array_new_with_free_func ((GDestroyNotify) model_free);
  g_autoptr(GHashTable) series_of = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree gdouble *cost = NULL;
  guint n_days, n_series, n_rows = daily != NULL ? json_array_get_length (daily) : 0;
  gboolean has_other;
  gdouble top = 0, unknown = 0, plot_w, step, plot_h = CHART_H - PLOT_TOP - PLOT_BOTTOM;

  g_string_append (out, "<section id=\"cost\"><h2>Cost per day, by model</h2>\n");

  for (guint i = 0; i < n_rows; i++)
    {
      JsonObject *row = json_array_get_object_element (daily, i);
      const char *day = sluice_json_get_string (row, "day");
      const char *name = sluice_json_get_string (row, "model");
      Model *model;
      gdouble value = 0;

      if (day == NULL)
        continue;
      if (name == NULL)
        name = "(unknown model)";
      if (!g_hash_table_contains (day_index, day))
        {
          g_hash_table_insert (day_index, (gpointer) day, NULL);
          g_ptr_array_add (days, (gpointer) day);
        }
      if ((model = g_hash_table_lookup (models_by_name, name)) == NULL)
        {
          model = g_new0 (Model, 1);
          model->model = g_strdup (name);
          g_ptr_array_add (models, model);
          g_hash_table_insert (models_by_name, model->model, model);
        }
      if (get_number (row, "cost_usd", &value))
        {
          model->total += value;
          model->known = TRUE;
        }
      else
        unknown += get_number_or_zero (row, "requests");
    }
  g_ptr_array_sort (days, compare_strings);
  for (guint i = 0; i < days->len; i++)
    g_hash_table_insert (day_index, g_ptr_array_index (days, i), GUINT_TO_POINTER (i));
  g_ptr_array_sort (models, compare_models);
  has_other = models->len > MAX_SERIES;
  n_series = has_other ? MAX_SERIES : models->len;
  for (guint i = 0; i < models->len; i++)
    {
      Model *model = g_ptr_array_index (models, i);

      g_hash_table_insert (series_of, model->model, GUINT_TO_POINTER (MIN (i, n_series - 1)));
    }

  n_days = days->len;
  cost = g_new0 (gdouble, (gsize) MAX (n_days, 1) * MAX (n_series, 1));
  for (guint i = 0; i < n_rows; i++)
    {
      JsonObject *row = json_array_get_object_element (daily, i);
      const char *day = sluice_json_get_string (row, "day");
      const char *name = sluice_json_get_string (row, "model");
      gdouble value;

      if (day == NULL || !get_number (row, "cost_usd", &value) || value <= 0)
        continue;
      cost[GPOINTER_TO_UINT (g_hash_table_lookup (day_index, day)) * n_series +
           GPOINTER_TO_UINT (g_hash_table_lookup (series_of, name != NULL ? name : "(unknown model)"))] += value;
    }
  for (guint d = 0; d < n_days; d++)
    {
      gdouble sum = 0;

      for (guint s = 0; s < n_series; s++)
        sum += cost[d * n_series + s];
      top = MAX (top, sum);
    }

  if (!(top > 0))
    {
      g_string_append (out, "<p class=\"note\">No known cost in this range.</p>\n");
      if (unknown > 0)
        g_string_append_printf (out, "<p class=\"note\">%.0f requests of unknown cost (models missing from the "
                                "catalog) are not counted.</p>\n", unknown);
      g_string_append (out, "</section>\n");
      return;
    }

  top = nice_ceiling (top);
  plot_w = CHART_W - PLOT_LEFT - PLOT_RIGHT;
  step = plot_w / n_days;
  begin_svg (out, "cost", CHART_H, "Cost per day, stacked by model");
  append_y_axis (out, top, AS_USD);
  for (guint d = 0; d < n_days; d++)
    {
      const char *day = g_ptr_array_index (days, d);
      gdouble x = PLOT_LEFT + d * step + step * 0.15;
      gdouble base = PLOT_TOP + plot_h;

      for (guint s = 0; s < n_series; s++)
        {
          gdouble value = cost[d * n_series + s];
          gdouble h = plot_h * value / top;
          Model *model = g_ptr_array_index (models, s);
          gboolean other = has_other && s == n_series - 1;

          if (!(value > 0))
            continue;
          base -= h;
          g_string_append_printf (out, "<rect class=\"bar\" data-series=\"%u\" fill=\"%s\" x=\"", s,
                                  other ? other_colour : palette[s]);
          append_coord (out, x);
          g_string_append (out, "\" y=\"");
          append_coord (out, base);
          g_string_append (out, "\" width=\"");
          append_coord (out, step * 0.7);
          g_string_append (out, "\" height=\"");
          append_coord (out, h);
          g_string_append (out, "\"><title>");
          append_escaped (out, day);
          g_string_append (out, " \xc2\xb7 ");
          append_escaped (out, other ? "other models" : model->model);
          g_string_append (out, ": ");
          append_usd (out, value);
          g_string_append (out, "</title></rect>\n");
        }
      /* At most about a dozen day labels, whatever the range. */
      if (d % ((n_days + 11) / 12) == 0)
        append_day_label (out, day, x + step * 0.35);
    }
  g_string_append (out, "</svg>\n<ul class=\"legend\">");
  for (guint s = 0; s < n_series; s++)
    {
      Model *model = g_ptr_array_index (models, s);
      gboolean other = has_other && s == n_series - 1;

      g_autofree char *label = g_strconcat (other ? "other models" : model->model,
                                            model->known || other ? NULL : " (no known cost)", NULL);

      append_legend_item (out, other ? other_colour : palette[s], label);
    }
  g_string_append (out, "</ul>\n");
  if (unknown > 0)
    g_string_append_printf (out, "<p class=\"note\">%.0f requests of unknown cost (models missing from the "
                            "catalog) are not counted.</p>\n", unknown);
  g_string_append (out, "</section>\n");
}

/* ---- latency percentiles per day --------------------------------------- */

static gint
compare_days (gconstpointer a,
              gconstpointer b)
{
  JsonObject *ra = json_node_get_object (*(JsonNode * const *) a);
  JsonObject *rb = json_node_get_object (*(JsonNode * const *) b);

  return g_strcmp0 (sluice_json_get_string (ra, "day"), sluice_json_get_string (rb, "day"));
}

static void
append_latency_chart (GString   *out,
                      JsonArray *latency_daily)
{
  static const struct { const char *member; const char *label; const char *colour; } series[] = {
    { "p50_ms", "p50", "#4e79a7" },
    { "p95_ms", "p95", "#f28e2b" },
    { "p99_ms", "p99", "#e15759" },
    { "ttft_p50_ms", "TTFT p50", "#59a14f" },
  };
  g_autoptr(GPtrArray) rows = g_ptr_array_new ();
  gdouble top = 0, plot_w = CHART_W - PLOT_LEFT - PLOT_RIGHT, plot_h = CHART_H - PLOT_TOP - PLOT_BOTTOM;
  gboolean present[G_N_ELEMENTS (series)] = { FALSE };
  guint n;

  g_string_append (out, "<section id=\"latency\"><h2>Latency percentiles per day</h2>\n");
  for (guint i = 0; latency_daily != NULL && i < json_array_get_length (latency_daily); i++)
    {
      JsonNode *node = json_array_get_element (latency_daily, i);

      if (JSON_NODE_HOLDS_OBJECT (node) && sluice_json_get_string (json_node_get_object (node), "day") != NULL)
        g_ptr_array_add (rows, node);
    }
  g_ptr_array_sort (rows, compare_days);
  n = rows->len;
  for (guint i = 0; i < n; i++)
    for (guint k = 0; k < G_N_ELEMENTS (series); k++)
      {
        gdouble value;

        if (get_number (json_node_get_object (g_ptr_array_index (rows, i)), series[k].member, &value))
          {
            top = MAX (top, value);
            present[k] = TRUE;
          }
      }
  if (!(top > 0))
    {
      g_string_append (out, "<p class=\"note\">No latency recorded in this range.</p>\n</section>\n");
      return;
    }

  top = nice_ceiling (top);
  begin_svg (out, "latency", CHART_H, "Latency percentiles per day");
  append_y_axis (out, top, AS_MS);
  for (guint k = 0; k < G_N_ELEMENTS (series); k++)
    {
      g_autoptr(GString) path = g_string_new (NULL);
      g_autoptr(GString) points = g_string_new (NULL);
      gboolean pen_down = FALSE;

      if (!present[k])
        continue;
      for (guint i = 0; i < n; i++)
        {
          JsonObject *row = json_node_get_object (g_ptr_array_index (rows, i));
          gdouble x = n == 1 ? PLOT_LEFT + plot_w / 2 : PLOT_LEFT + 10 + (plot_w - 20) * i / (n - 1);
          gdouble value, y;

          /* A day without data breaks the line rather than dropping to 0. */
          if (!get_number (row, series[k].member, &value))
            {
              pen_down = FALSE;
              continue;
            }
          y = PLOT_TOP + plot_h - plot_h * value / top;
          g_string_append_c (path, pen_down ? 'L' : 'M');
          append_coord (path, x);
          g_string_append_c (path, ' ');
          append_coord (path, y);
          pen_down = TRUE;

          g_string_append_printf (points, "<circle class=\"point\" data-series=\"%s\" r=\"3.5\" fill=\"%s\" cx=\"",
                                  series[k].label, series[k].colour);
          append_coord (points, x);
          g_string_append (points, "\" cy=\"");
          append_coord (points, y);
          g_string_append (points, "\"><title>");
          append_escaped (points, sluice_json_get_string (row, "day"));
          g_string_append_printf (points, " \xc2\xb7 %s: ", series[k].label);
          append_ms (points, value);
          g_string_append (points, "</title></circle>\n");
        }
      g_string_append_printf (out, "<path class=\"line\" data-series=\"%s\" stroke=\"%s\"%s d=\"%s\"/>\n",
                              series[k].label, series[k].colour,
                              k == 3 ? " stroke-dasharray=\"6 4\"" : "", path->str);
      g_string_append (out, points->str);
    }
  for (guint i = 0; i < n; i += (n + 11) / 12)
    append_day_label (out, sluice_json_get_string (json_node_get_object (g_ptr_array_index (rows, i)), "day"),
                      n == 1 ? PLOT_LEFT + plot_w / 2 : PLOT_LEFT + 10 + (plot_w - 20) * i / (n - 1));
  g_string_append (out, "</svg>\n<ul class=\"legend\">");
  for (guint k = 0; k < G_N_ELEMENTS (series); k++)
    if (present[k])
      append_legend_item (out, series[k].colour, series[k].label);
  g_string_append (out, "</ul>\n</section>\n");
}

/* ---- horizontal bars: error kinds, served by ----------------------------- */

typedef struct {
  const char *label;
  gdouble     value;    /* the bar's length, relative to the longest */
  gdouble     count;
  gboolean    has_share;
  gdouble     share;
} Bar;

static gint
compare_bars (gconstpointer a,
              gconstpointer b)
{
  const Bar *ba = a, *bb = b;

  if (ba->value != bb->value)
    return ba->value > bb->value ? -1 : 1;
  return g_strcmp0 (ba->label, bb->label);
}

static void
append_bars (GString    *out,
             const char *name,
             const char *description,
             const char *colour,
             GArray     *bars,
             gdouble     full)
{
  gdouble height = bars->len * ROW_H + 8;
  gdouble plot_w = CHART_W - LABEL_W - 120;

  begin_svg (out, name, height, description);
  for (guint i = 0; i < bars->len; i++)
    {
      Bar *bar = &g_array_index (bars, Bar, i);
      gdouble y = 4 + i * ROW_H;
      gdouble w = full > 0 ? plot_w * CLAMP (bar->value / full, 0, 1) : 0;

      g_string_append (out, "<text x=\"0\" y=\"");
      append_coord (out, y + 17);
      g_string_append (out, "\">");
      append_short (out, bar->label);
      g_string_append_printf (out, "</text><rect class=\"bar\" fill=\"%s\" x=\"", colour);
      append_coord (out, LABEL_W);
      g_string_append (out, "\" y=\"");
      append_coord (out, y + 4);
      g_string_append (out, "\" width=\"");
      append_coord (out, MAX (w, 1));
      g_string_append (out, "\" height=\"");
      append_coord (out, ROW_H - 8);
      g_string_append (out, "\"><title>");
      append_escaped (out, bar->label);
      g_string_append (out, "</title></rect><text x=\"");
      append_coord (out, LABEL_W + MAX (w, 1) + 6);
      g_string_append (out, "\" y=\"");
      append_coord (out, y + 17);
      g_string_append (out, "\">");
      if (bar->has_share)
        {
          append_percent (out, bar->share);
          g_string_append (out, " \xc2\xb7 ");
        }
      append_grouped (out, bar->count);
      g_string_append (out, "</text>\n");
    }
  g_string_append (out, "</svg>\n");
}

static void
append_error_chart (GString    *out,
                    JsonObject *error_kinds)
{
  g_autoptr(GArray) bars = g_array_new (FALSE, TRUE, sizeof (Bar));
  JsonObjectIter iter;
  const char *kind;
  JsonNode *node;
  gdouble top = 0;

  g_string_append (out, "<section id=\"errors\"><h2>Failed attempts by error kind</h2>\n");
  if (error_kinds != NULL)
    {
      json_object_iter_init (&iter, error_kinds);
      while (json_object_iter_next (&iter, &kind, &node))
        {
          Bar bar = { kind, 0, 0, FALSE, 0 };

          if (!get_number (error_kinds, kind, &bar.count) || bar.count <= 0)
            continue;
          bar.value = bar.count;
          top = MAX (top, bar.count);
          g_array_append_val (bars, bar);
        }
    }
  if (bars->len == 0)
    {
      g_string_append (out, "<p class=\"note\">No failed attempts in this range.</p>\n</section>\n");
      return;
    }
  g_array_sort (bars, compare_bars);
  append_bars (out, "errors", "Failed attempts by error kind", "#e15759", bars, top);
  g_string_append (out, "</section>\n");
}

static void
append_served_chart (GString    *out,
                     JsonArray  *served_by,
                     JsonObject *totals)
{
  g_autoptr(GArray) bars = g_array_new (FALSE, TRUE, sizeof (Bar));
  gdouble top = 0;

  g_string_append (out, "<section id=\"served\"><h2>Served by</h2>\n<p class=\"note\">Fallback share (succeeded "
                        "requests answered by a target other than the first): ");
  append_figure (out, totals, "fallback_share", AS_RATE);
  g_string_append (out, "</p>\n");
  for (guint i = 0; served_by != NULL && i < json_array_get_length (served_by); i++)
    {
      JsonObject *row = json_array_get_object_element (served_by, i);
      Bar bar = { sluice_json_get_string (row, "target"), 0, 0, FALSE, 0 };

      if (bar.label == NULL)
        continue;
      bar.count = get_number_or_zero (row, "requests");
      bar.has_share = get_number (row, "share", &bar.share);
      /* The bar is the share; without one, the count. */
      bar.value = bar.has_share ? bar.share : bar.count;
      top = MAX (top, bar.value);
      g_array_append_val (bars, bar);
    }
  if (bars->len == 0)
    {
      g_string_append (out, "<p class=\"note\">No request was answered in this range.</p>\n</section>\n");
      return;
    }
  g_array_sort (bars, compare_bars);
  /* Shares are drawn against the whole (1), not the largest. */
  append_bars (out, "served", "Share of answers per target", "#4e79a7", bars,
               g_array_index (bars, Bar, 0).has_share ? 1 : top);
  g_string_append (out, "</section>\n");
}

/* ---- the per-group table ----------------------------------------------- */

static void
append_row (GString    *out,
            JsonObject *figures,
            const char *key,
            gboolean    total)
{
  static const struct { const char *object; const char *member; Unit unit; } columns[] = {
    { NULL, "requests", AS_COUNT },
    { NULL, "error_rate", AS_RATE },
    { NULL, "timeout_rate", AS_RATE },
    { NULL, "fallback_share", AS_RATE },
    { NULL, "retries_per_success", AS_RATIO },
    { NULL, "waste_ratio", AS_RATE },
    { "latency_ms", "p50", AS_MS },
    { "latency_ms", "p95", AS_MS },
    { "latency_ms", "p99", AS_MS },
    { "ttft_ms", "p50", AS_MS },
    { NULL, "prompt_tokens", AS_COUNT },
    { NULL, "completion_tokens", AS_COUNT },
    { NULL, "cost_usd", AS_USD },
    { NULL, "cost_per_request", AS_USD },
    { NULL, "cache_hit_rate", AS_RATE },
    { "compliance", "rate", AS_RATE },
  };

  g_string_append (out, total ? "<tr class=\"total\"><td>" : "<tr><td>");
  append_escaped (out, key);
  g_string_append (out, "</td>");
  for (guint i = 0; i < G_N_ELEMENTS (columns); i++)
    {
      g_string_append (out, "<td>");
      append_figure (out, columns[i].object != NULL ? get_object (figures, columns[i].object) : figures,
                     columns[i].member, columns[i].unit);
      g_string_append (out, "</td>");
    }
  g_string_append (out, "</tr>\n");
}

static void
append_table (GString    *out,
              JsonObject *report,
              JsonObject *totals)
{
  JsonArray *groups = get_array (report, "groups");
  const char *group_by = sluice_json_get_string (report, "group_by");

  g_string_append (out, "<section id=\"groups\"><h2>");
  if (group_by != NULL)
    {
      g_string_append (out, "By ");
      append_escaped (out, group_by);
    }
  else
    g_string_append (out, "All requests");
  g_string_append (out, "</h2>\n<div class=\"scroll\"><table>\n<thead><tr><th>");
  append_escaped (out, group_by != NULL ? group_by : "");
  g_string_append (out, "</th><th>Requests</th><th>Error rate</th><th>Timeouts</th><th>Fallback</th>"
                        "<th>Retries/success</th><th>Waste</th><th>p50</th><th>p95</th><th>p99</th>"
                        "<th>TTFT p50</th><th>Prompt tokens</th><th>Completion tokens</th><th>Cost</th>"
                        "<th>Cost/request</th><th>Cache hits</th><th>Compliance</th></tr></thead>\n<tbody>\n");
  for (guint i = 0; groups != NULL && i < json_array_get_length (groups); i++)
    {
      JsonObject *group = json_array_get_object_element (groups, i);
      const char *key = sluice_json_get_string (group, "key");

      if (group != NULL)
        append_row (out, group, key != NULL ? key : NO_DATA, FALSE);
    }
  append_row (out, totals, "All", TRUE);
  g_string_append (out, "</tbody></table></div>\n</section>\n");
}

/* ---- SLOs ---------------------------------------------------------------- */

/* The objectives as `sluice report --slo` prints them, one row each,
 * the status coloured, and each objective's message under the table. */
static void
append_slo (GString    *out,
            JsonObject *slo)
{
  g_autoptr(GPtrArray) rows = sluice_report_slo_rows (slo);
  JsonArray *objectives = get_array (slo, "objectives");
  GStrv header = g_ptr_array_index (rows, 0);

  g_string_append (out, "<section id=\"slo\"><h2>SLOs</h2>\n<p class=\"note\">");
  append_escaped (out, sluice_json_get_string (slo, "file") != NULL ? sluice_json_get_string (slo, "file") : "");
  g_string_append (out, ": rolling window ");
  append_escaped (out, sluice_json_get_string (slo, "window_start") != NULL ? sluice_json_get_string (slo, "window_start") : NO_DATA);
  g_string_append (out, " to ");
  append_escaped (out, sluice_json_get_string (slo, "window_end") != NULL ? sluice_json_get_string (slo, "window_end") : NO_DATA);
  g_string_append (out, "</p>\n<div class=\"scroll\"><table>\n<thead><tr>");
  for (guint c = 0; header[c] != NULL; c++)
    {
      g_string_append (out, "<th>");
      append_escaped (out, header[c]);
      g_string_append (out, "</th>");
    }
  g_string_append (out, "</tr></thead>\n<tbody>\n");
  for (guint i = 1; i < rows->len; i++)
    {
      GStrv cells = g_ptr_array_index (rows, i);

      g_string_append (out, "<tr>");
      for (guint c = 0; cells[c] != NULL; c++)
        {
          g_string_append_printf (out, "<td class=\"slo-%s\">", cells[c + 1] == NULL ? cells[c] : "cell");
          append_escaped (out, cells[c]);
          g_string_append (out, "</td>");
        }
      g_string_append (out, "</tr>\n");
    }
  g_string_append (out, "</tbody></table></div>\n");
  for (guint i = 0; objectives != NULL && i < json_array_get_length (objectives); i++)
    {
      JsonObject *o = json_array_get_object_element (objectives, i);

      if (sluice_json_get_string (o, "message") == NULL)
        continue;
      g_string_append (out, "<p class=\"note\">");
      append_escaped (out, sluice_json_get_string (o, "name") != NULL ? sluice_json_get_string (o, "name") : "");
      g_string_append (out, ": ");
      append_escaped (out, sluice_json_get_string (o, "message"));
      g_string_append (out, "</p>\n");
    }
  g_string_append (out, "</section>\n");
}

/* ---- the page ------------------------------------------------------------ */

char *
sluice_report_render_html (JsonObject  *report,
                           GError     **error)
{
  JsonObject *totals = get_object (report, "totals");
  JsonObject *slo = get_object (report, "slo");
  GString *out;

  g_return_val_if_fail (report != NULL, NULL);
  if (totals == NULL)
    {
      g_set_error_literal (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT,
                           "the report has no totals: not a report model");
      return NULL;
    }

  out = g_string_sized_new (32 * 1024);
  g_string_append (out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        /* Nothing to fetch, nothing to run: the browser enforces it. */
                        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
                        "style-src 'unsafe-inline'\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<title>sluice report</title>\n<style>");
  g_string_append (out, style);
  g_string_append (out, "</style>\n</head>\n<body>\n<main>\n<h1>sluice report</h1>\n");
  append_range (out, report);
  append_big_figures (out, totals);

  if (!(get_number_or_zero (totals, "requests") > 0))
    g_string_append (out, "<p class=\"empty\">No traffic in this range.</p>\n");
  else
    {
      append_details (out, totals);
      append_cost_chart (out, get_array (report, "daily"));
      append_latency_chart (out, get_array (report, "latency_daily"));
      append_error_chart (out, get_object (report, "error_kinds"));
      append_served_chart (out, get_array (report, "served_by"), totals);
      append_table (out, report, totals);
    }
  if (slo != NULL)
    append_slo (out, slo);
  g_string_append (out, "</main>\n</body>\n</html>\n");
  return g_string_free (out, FALSE);
}

gboolean
sluice_report_write_html (JsonObject  *report,
                          const char  *path,
                          GError     **error)
{
  g_autofree char *html = NULL;
  g_autoptr(GError) local = NULL;

  g_return_val_if_fail (report != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  html = sluice_report_render_html (report, error);
  if (html == NULL)
    return FALSE;
  if (!sluice_write_file (path, html, -1, &local))
    {
      g_set_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED, "cannot write the HTML report: %s", local->message);
      return FALSE;
    }
  return TRUE;
}
