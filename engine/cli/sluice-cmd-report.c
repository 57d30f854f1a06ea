/* sluice-cmd-report.c — `sluice report`: what the ledger says about cost,
 * latency, failures and format compliance, and whether the SLOs hold.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>

#include "sluice-cli-private.h"
#include "sluice-report-private.h"
#include "sluice-report-html-private.h"
#include "sluice-metrics-private.h"
#include "sluice-diagnostic-private.h"

static void
print_diagnostics (GPtrArray *diagnostics)
{
  for (guint i = 0; i < diagnostics->len; i++)
    {
      g_autofree char *line = sluice_diagnostic_to_string (g_ptr_array_index (diagnostics, i));

      fprintf (stderr, "%s\n", line);
    }
}

int
sluice_cmd_report (int    argc,
                   char **argv)
{
  g_autofree char *ledger = NULL;
  g_autofree char *since_text = NULL;
  g_autofree char *until_text = NULL;
  g_autofree char *group_by = NULL;
  g_autofree char *slo_path = NULL;
  g_autofree char *html_path = NULL;
  gboolean json = FALSE, csv = FALSE, prometheus = FALSE;
  const GOptionEntry entries[] = {
    { "ledger", 0, 0, G_OPTION_ARG_FILENAME, &ledger, "The ledger to read (default: the sqlite sink's)", "PATH" },
    { "since", 0, 0, G_OPTION_ARG_STRING, &since_text, "From this time: 7d, 24h, 30m back, or an ISO 8601 date/time", "WHEN" },
    { "until", 0, 0, G_OPTION_ARG_STRING, &until_text, "Up to this time (excluded), same forms", "WHEN" },
    { "group-by", 0, 0, G_OPTION_ARG_STRING, &group_by, "model, provider, pipeline, endpoint, user or day", "GROUP" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the report as JSON", NULL },
    { "csv", 0, 0, G_OPTION_ARG_NONE, &csv, "Print the figures as CSV (totals, then one row per group)", NULL },
    { "prometheus", 0, 0, G_OPTION_ARG_NONE, &prometheus, "Print the ledger's counters and histograms in Prometheus text format (with --since only)", NULL },
    { "html", 0, 0, G_OPTION_ARG_FILENAME, &html_path, "Write the report as one self-contained HTML page with charts", "FILE" },
    { "slo", 0, 0, G_OPTION_ARG_FILENAME, &slo_path, "Evaluate the SLOs of FILE; exit 1 when a budget is exhausted", "FILE" },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("— figures from the ledger");
  g_autoptr(GPtrArray) diagnostics = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_diagnostic_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) since = NULL;
  g_autoptr(GDateTime) until = NULL;
  g_autoptr(SluiceReport) report = NULL;
  g_autoptr(JsonObject) model = NULL;
  g_autoptr(JsonObject) slo = NULL;
  g_autofree char *text = NULL;

  g_option_context_add_main_entries (options, entries, NULL);
  g_option_context_set_summary (options,
    "Reads the ledger (read-only) and prints requests, error and timeout rates,\n"
    "breaker trips, fallback share, retries, token waste, latency and TTFT\n"
    "percentiles, tokens and cost per day, cache hits and format compliance;\n"
    "the README's \"sluice report\" section defines each figure.\n"
    "Exit status: 0 ok, 1 an SLO's error budget is exhausted, 2 bad input.");
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      fprintf (stderr, "sluice report: %s\n", error->message);
      return SLUICE_EXIT_USAGE;
    }
  if (argc > 1)
    {
      fprintf (stderr, "sluice report: unexpected argument '%s'\n", argv[1]);
      return SLUICE_EXIT_USAGE;
    }
  if (json && csv)
    {
      fprintf (stderr, "sluice report: --json and --csv exclude each other\n");
      return SLUICE_EXIT_USAGE;
    }
  if (prometheus && (json || csv || html_path != NULL || slo_path != NULL || group_by != NULL || until_text != NULL))
    {
      fprintf (stderr, "sluice report: --prometheus takes --ledger and --since only (counters only grow)\n");
      return SLUICE_EXIT_USAGE;
    }
  if (group_by != NULL && !g_strv_contains (sluice_report_group_names, group_by))
    {
      g_autofree char *names = g_strjoinv (", ", (GStrv) sluice_report_group_names);

      fprintf (stderr, "sluice report: unknown group '%s'; --group-by takes one of %s\n", group_by, names);
      return SLUICE_EXIT_USAGE;
    }
  if ((since_text != NULL && (since = sluice_report_parse_time (since_text, now, &error)) == NULL) ||
      (until_text != NULL && (until = sluice_report_parse_time (until_text, now, &error)) == NULL))
    {
      fprintf (stderr, "sluice report: --%s: %s\n", since == NULL && since_text != NULL ? "since" : "until",
               error->message);
      return SLUICE_EXIT_USAGE;
    }
  if (since != NULL && until != NULL && g_date_time_compare (since, until) >= 0)
    {
      fprintf (stderr, "sluice report: --since must come before --until\n");
      return SLUICE_EXIT_USAGE;
    }

  if (ledger == NULL)
    ledger = sluice_get_default_ledger_path ();
  if (prometheus)
    {
      g_autofree char *since_iso = since != NULL ? sluice_report_format_time (since) : NULL;

      if (!g_file_test (ledger, G_FILE_TEST_IS_REGULAR))
        {
          fprintf (stderr, "sluice report: no ledger at %s\n", ledger);
          return SLUICE_EXIT_USAGE;
        }
      text = sluice_metrics_render_ledger (ledger, since_iso, &error);
      if (text == NULL)
        {
          fprintf (stderr, "sluice report: %s\n", error->message);
          return SLUICE_EXIT_USAGE;
        }
      fputs (text, stdout);
      return SLUICE_EXIT_OK;
    }
  report = sluice_report_open (ledger, &error);
  if (report == NULL)
    {
      fprintf (stderr, "sluice report: %s\n", error->message);
      return SLUICE_EXIT_USAGE;
    }
  model = sluice_report_build (report, now, since, until, group_by, &error);
  /* The SLO window is rolling: it ends at --until, or now. */
  if (model != NULL && slo_path != NULL)
    {
      slo = sluice_report_evaluate_slo (report, slo_path, until != NULL ? until : now, diagnostics, &error);
      if (slo == NULL && error == NULL)
        {
          print_diagnostics (diagnostics);
          return SLUICE_EXIT_USAGE;
        }
    }
  if (model == NULL || (slo_path != NULL && slo == NULL))
    {
      fprintf (stderr, "sluice report: %s\n", error->message);
      return SLUICE_EXIT_USAGE;   /* not 1: that is an exhausted budget */
    }
  if (slo != NULL)
    json_object_set_object_member (model, "slo", json_object_ref (slo));

  if (html_path != NULL)
    {
      /* Exit 1 means an exhausted budget to a cron gate: trouble is 2. */
      if (!sluice_report_write_html (model, html_path, &error))
        {
          fprintf (stderr, "sluice report: %s\n", error->message);
          return SLUICE_EXIT_USAGE;
        }
      fprintf (stderr, "sluice report: wrote %s\n", html_path);
    }

  /* With --html alone the page is the answer; the tables are not repeated. */
  if (html_path != NULL && !json && !csv)
    ;
  else if (json)
    {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), model);

      text = sluice_json_to_string_full (node, TRUE);
      printf ("%s\n", text);
    }
  else
    {
      text = csv ? sluice_report_to_csv (model) : sluice_report_to_text (model);
      fputs (text, stdout);
    }
  return sluice_report_slo_n_exhausted (slo) > 0 ? SLUICE_EXIT_FAILED : SLUICE_EXIT_OK;
}
