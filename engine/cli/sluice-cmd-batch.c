/* sluice-cmd-batch.c — `sluice batch PIPELINE IN.jsonl -o OUT.jsonl`
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <stdio.h>
#include <unistd.h>
#include <glib-unix.h>

#include "sluice-cli-private.h"
#include "sluice-batch-private.h"

#define DEFAULT_CONCURRENCY 16
#define DEFAULT_GRACE "10s"

typedef struct
{
  GMainLoop   *loop;
  SluiceBatch *batch;
  gboolean     ok;
  GError      *error;
  guint        signals;
} Run;

static void
on_batch_done (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Run *run = user_data;

  run->ok = sluice_batch_run_finish (run->batch, result, &run->error);
  g_main_loop_quit (run->loop);
}

static gboolean
on_signal (gpointer user_data)
{
  Run *run = user_data;

  if (run->signals++ == 0)
    fprintf (stderr, "\nsluice batch: stopping: no new jobs; waiting for those in flight "
                     "(signal again to cancel them now)\n");
  else
    fprintf (stderr, "\nsluice batch: cancelling the jobs in flight; they are left for --resume\n");
  sluice_batch_stop (run->batch);
  return G_SOURCE_CONTINUE;
}

static gint
compare_served (gconstpointer a,
                gconstpointer b,
                gpointer      served)
{
  gint64 na = json_object_get_int_member (served, a);
  gint64 nb = json_object_get_int_member (served, b);

  return na != nb ? (na > nb ? -1 : 1) : g_strcmp0 (a, b);
}

/* The share of the answers each target gave, largest first; printed
 * even when one target served all, since that is worth knowing too. */
static void
print_served_by (JsonObject *summary)
{
  JsonObject *served = json_object_get_object_member (summary, "served_by");
  g_autoptr(GList) names = served != NULL ? json_object_get_members (served) : NULL;
  gint64 total = 0;

  if (names == NULL)
    return;
  names = g_list_sort_with_data (names, compare_served, served);
  for (GList *l = names; l != NULL; l = l->next)
    total += json_object_get_int_member (served, l->data);
  printf ("served by:");
  for (GList *l = names; l != NULL; l = l->next)
    {
      gint64 n = json_object_get_int_member (served, l->data);

      printf ("%s %s %" G_GINT64_FORMAT " (%.1f%%)", l == names ? "" : ",", (const char *) l->data, n,
              total > 0 ? 100.0 * (gdouble) n / (gdouble) total : 0);
    }
  printf ("\n");
}

/* "schema:    231 valid first try (96.3%), 7 after correction, 2 invalid";
 * nothing when no answer was checked. */
static void
print_compliance (JsonObject *summary)
{
  JsonObject *compliance = json_object_get_object_member (summary, "compliance");
  gint64 first, corrected, repaired, invalid, total;

  if (compliance == NULL || json_object_get_size (compliance) == 0)
    return;
  first = json_object_get_int_member (compliance, "valid_first_try");
  corrected = json_object_get_int_member (compliance, "valid_after_correction");
  repaired = json_object_get_int_member_with_default (compliance, "valid_after_repair", 0);
  invalid = json_object_get_int_member (compliance, "invalid");
  total = first + corrected + repaired + invalid;
  printf ("schema:    %" G_GINT64_FORMAT " valid first try (%.1f%%), %" G_GINT64_FORMAT
          " after correction", first, total > 0 ? 100.0 * (gdouble) first / (gdouble) total : 0, corrected);
  if (repaired > 0)
    printf (", %" G_GINT64_FORMAT " after repair", repaired);
  printf (", %" G_GINT64_FORMAT " invalid\n", invalid);
}

static void
print_summary (JsonObject *summary,
               gboolean    as_json)
{
  if (as_json)
    {
      g_autoptr(JsonNode) node = json_node_init_object (json_node_alloc (), summary);
      g_autofree char *text = sluice_json_to_string (node);

      printf ("%s\n", text);
      return;
    }

  printf ("jobs:      %" G_GINT64_FORMAT " ok, %" G_GINT64_FORMAT " failed",
          json_object_get_int_member (summary, "ok"),
          json_object_get_int_member (summary, "failed"));
  if (json_object_get_int_member (summary, "resumed") > 0)
    printf (", %" G_GINT64_FORMAT " already done (resumed; %" G_GINT64_FORMAT " failed in all)",
            json_object_get_int_member (summary, "resumed"),
            json_object_get_int_member (summary, "failed_total"));
  if (json_object_get_int_member (summary, "interrupted") > 0)
    printf (", %" G_GINT64_FORMAT " interrupted (left for --resume)", json_object_get_int_member (summary, "interrupted"));
  if (json_object_get_int_member (summary, "blank") > 0)
    printf (", %" G_GINT64_FORMAT " blank lines skipped", json_object_get_int_member (summary, "blank"));
  printf ("\nretries:   %" G_GINT64_FORMAT " (%" G_GINT64_FORMAT " provider calls",
          json_object_get_int_member (summary, "retries"), json_object_get_int_member (summary, "calls"));
  if (json_object_get_int_member (summary, "hedges") > 0)
    printf (", %" G_GINT64_FORMAT " hedges", json_object_get_int_member (summary, "hedges"));
  if (json_object_get_int_member (summary, "breaker_skips") > 0)
    printf (", %" G_GINT64_FORMAT " skipped by open breakers", json_object_get_int_member (summary, "breaker_skips"));
  if (json_object_get_int_member (summary, "wasted_tokens") > 0)
    printf (", %" G_GINT64_FORMAT " tokens wasted", json_object_get_int_member (summary, "wasted_tokens"));
  printf (")\n");
  print_served_by (summary);
  if (json_object_get_int_member (summary, "cache_hits") + json_object_get_int_member (summary, "cache_misses") > 0)
    printf ("cache:     %" G_GINT64_FORMAT " hits (answered without a provider call), %" G_GINT64_FORMAT " misses\n",
            json_object_get_int_member (summary, "cache_hits"),
            json_object_get_int_member (summary, "cache_misses"));
  print_compliance (summary);
  printf ("cost:      $%.6f", json_object_get_double_member (summary, "cost_usd"));
  if (json_object_get_int_member (summary, "cost_unknown") > 0)
    printf (" (+ %" G_GINT64_FORMAT " jobs of unknown cost)", json_object_get_int_member (summary, "cost_unknown"));
  printf ("\nlatency:   p50 %" G_GINT64_FORMAT " ms, p95 %" G_GINT64_FORMAT " ms\n",
          json_object_get_int_member (summary, "p50_ms"),
          json_object_get_int_member (summary, "p95_ms"));
  printf ("time:      %.1f s (%.1f jobs/s)\n",
          json_object_get_double_member (summary, "elapsed_s"),
          json_object_get_double_member (summary, "jobs_per_s"));
  printf ("output:    %s\n", json_object_get_string_member (summary, "output"));
}

int
sluice_cmd_batch (int    argc,
                  char **argv)
{
  g_autofree char *output = NULL;
  g_autofree char *grace = NULL;
  int concurrency = DEFAULT_CONCURRENCY;
  gboolean resume = FALSE, overwrite = FALSE, retry_failed = FALSE, quiet = FALSE, json = FALSE;
  gboolean no_cache = FALSE, refresh_cache = FALSE;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "Where results go, one JSON line per input line (required)", "OUT.jsonl" },
    { "concurrency", 'c', 0, G_OPTION_ARG_INT, &concurrency, "Jobs in flight at most (default 16)", "N" },
    { "resume", 0, 0, G_OPTION_ARG_NONE, &resume, "Continue an interrupted batch: finished jobs are not run again", NULL },
    { "overwrite", 0, 0, G_OPTION_ARG_NONE, &overwrite, "Discard an earlier batch's output and state", NULL },
    { "retry-failed", 0, 0, G_OPTION_ARG_NONE, &retry_failed, "With --resume: run the jobs that ended in an error again", NULL },
    { "grace", 0, 0, G_OPTION_ARG_STRING, &grace, "After Ctrl-C, how long jobs in flight may finish (default 10s)", "DURATION" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "No progress line", NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the summary as JSON", NULL },
    { "no-cache", 0, 0, G_OPTION_ARG_NONE, &no_cache, "Cache stages neither look up nor store", NULL },
    { "refresh-cache", 0, 0, G_OPTION_ARG_NONE, &refresh_cache, "Cache stages skip the lookup and store the fresh answers", NULL },
    { NULL }
  };
  g_autoptr(GOptionContext) options = g_option_context_new ("PIPELINE INPUT.jsonl — run a pipeline over a file of jobs");
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceEngine) engine = NULL;
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(JsonObject) summary = NULL;
  SluiceBatchOptions batch_options = { 0 };
  Run run = { 0 };
  guint sigint, sigterm;
  gint64 grace_ms = 0;
  int status;

  g_option_context_add_main_entries (options, entries, NULL);
  g_option_context_set_summary (options,
    "Each input line is a job: {\"custom_id\": \"...\", \"input\": {...}} (the OpenAI\n"
    "Batch line format is accepted too: its \"body\" is the input). Each job\n"
    "ends as exactly one output line: {\"custom_id\", \"line\", \"output\"} or\n"
    "{\"custom_id\", \"line\", \"error\"}. Job state is kept in OUT.jsonl.sluice-state,\n"
    "so --resume after a crash or Ctrl-C re-runs no finished job\n"
    "(--resume --retry-failed also re-runs the jobs that ended in an error).\n\n"
    "Exit status: 0 all jobs ok, 1 some jobs failed (in any run of the batch),\n"
    "2 the batch could not run,\n"
    "130 interrupted (resumable).");
  if (!g_option_context_parse (options, &argc, &argv, &error))
    {
      fprintf (stderr, "sluice batch: %s\n", error->message);
      return SLUICE_EXIT_USAGE;
    }
  if (argc != 3)
    {
      fprintf (stderr, "sluice batch: expected PIPELINE INPUT.jsonl (see --help)\n");
      return SLUICE_EXIT_USAGE;
    }
  if (output == NULL)
    {
      fprintf (stderr, "sluice batch: -o OUT.jsonl is required\n");
      return SLUICE_EXIT_USAGE;
    }
  if (concurrency < 1 || concurrency > 65536)
    {
      fprintf (stderr, "sluice batch: --concurrency must be between 1 and 65536\n");
      return SLUICE_EXIT_USAGE;
    }
  if (!sluice_parse_duration (grace != NULL ? grace : DEFAULT_GRACE, &grace_ms))
    {
      fprintf (stderr, "sluice batch: --grace must be a duration such as 10s\n");
      return SLUICE_EXIT_USAGE;
    }
  if (retry_failed && !resume)
    {
      fprintf (stderr, "sluice batch: --retry-failed goes with --resume\n");
      return SLUICE_EXIT_USAGE;
    }
  if (resume && overwrite)
    {
      fprintf (stderr, "sluice batch: --resume and --overwrite exclude each other\n");
      return SLUICE_EXIT_USAGE;
    }

  engine = sluice_engine_new ();
  if (!sluice_cli_set_cache_mode (engine, "batch", no_cache, refresh_cache))
    return SLUICE_EXIT_USAGE;
  pipeline = sluice_cli_load_pipeline (engine, argv[1]);
  if (pipeline == NULL)
    return SLUICE_EXIT_USAGE;

  batch_options.input_path = argv[2];
  batch_options.output_path = output;
  batch_options.concurrency = (guint) concurrency;
  batch_options.resume = resume;
  batch_options.overwrite = overwrite;
  batch_options.retry_failed = retry_failed;
  batch_options.progress = !quiet && isatty (STDERR_FILENO);
  batch_options.grace_ms = grace_ms;

  run.batch = sluice_batch_new (pipeline, &batch_options, &error);
  if (run.batch == NULL)
    {
      fprintf (stderr, "sluice batch: %s\n", error->message);
      return SLUICE_EXIT_USAGE;
    }

  run.loop = g_main_loop_new (NULL, FALSE);
  sigint = g_unix_signal_add (SIGINT, on_signal, &run);
  sigterm = g_unix_signal_add (SIGTERM, on_signal, &run);
  sluice_batch_run_async (run.batch, on_batch_done, &run);
  g_main_loop_run (run.loop);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_main_loop_unref (run.loop);

  summary = sluice_batch_get_summary (run.batch);
  /* A batch that could not run has no summary worth reading. */
  if (run.ok)
    print_summary (summary, json);

  if (!run.ok)
    {
      fprintf (stderr, "sluice batch: %s\n", run.error->message);
      status = SLUICE_EXIT_USAGE;
    }
  else if (sluice_batch_was_stopped (run.batch))
    {
      fprintf (stderr, "sluice batch: interrupted; run again with --resume to finish\n");
      status = SLUICE_EXIT_INTERRUPTED;
    }
  else
    status = json_object_get_int_member (summary, "failed_total") > 0 ? SLUICE_EXIT_FAILED : SLUICE_EXIT_OK;

  g_clear_error (&run.error);
  sluice_batch_free (run.batch);
  return status;
}
