/* cache-lookup.c — the time the cache stage adds to a request: its
 * process step alone (the canonical key, its SHA-256, the indexed SQLite
 * read, the touch queued for the writer, and the main-loop turn the
 * stage's GTask takes), for hits and for misses.
 *
 *   cache-lookup-client PIPELINE JOBS.jsonl [N]
 *
 * For each of the first N jobs (all of them by default) the stages before
 * the cache run untimed, so that the cache sees the messages it would see
 * in a batch; then the cache stage's process is timed, once with the
 * job's input (a hit when the batch stored it) and once with the input's
 * text changed (a miss). A miss leaves the request as the key's leader:
 * it is completed with an error, untimed, so nothing is stored.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#define G_LOG_DOMAIN "cache-lookup"

#include <sluice.h>

#include <stdio.h>
#include <stdlib.h>

typedef struct
{
  gboolean      done;
  SluiceVerdict verdict;
  GError       *error;
} Wait;

static void
on_processed (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Wait *wait = user_data;

  wait->verdict = sluice_stage_process_finish (SLUICE_STAGE (source), result, &wait->error);
  wait->done = TRUE;
}

static void
on_completed (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Wait *wait = user_data;

  sluice_stage_complete_finish (SLUICE_STAGE (source), result, NULL);
  wait->done = TRUE;
}

static SluiceVerdict
process (SluiceStage   *stage,
         SluiceContext *context)
{
  Wait wait = { 0 };

  sluice_stage_process_async (stage, context, NULL, on_processed, &wait);
  while (!wait.done)
    g_main_context_iteration (NULL, TRUE);
  if (wait.error != NULL)
    {
      fprintf (stderr, "cache-lookup: %s\n", wait.error->message);
      exit (1);
    }
  return wait.verdict;
}

/* Runs the stages before the cache and times the cache's process. */
static gint64
time_lookup (SluicePipeline *pipeline,
             guint           cache_index,
             JsonNode       *input,
             gboolean       *hit)
{
  g_autoptr(SluiceContext) context = sluice_context_new (input);
  SluiceStage *cache = sluice_pipeline_get_stage (pipeline, cache_index);
  gint64 start;
  gint64 elapsed;
  SluiceVerdict verdict;

  for (guint i = 0; i < cache_index; i++)
    if (process (sluice_pipeline_get_stage (pipeline, i), context) != SLUICE_VERDICT_CONTINUE)
      {
        fprintf (stderr, "cache-lookup: stage %s did not let the request through\n",
                 sluice_pipeline_get_stage_name (pipeline, i));
        exit (1);
      }

  start = g_get_monotonic_time ();
  verdict = process (cache, context);
  elapsed = g_get_monotonic_time () - start;
  *hit = verdict == SLUICE_VERDICT_RESPOND;

  if (!*hit)
    {
      g_autoptr(GError) error = g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_CANCELLED, "not sent");
      Wait wait = { 0 };

      sluice_context_set_error (context, error, "bench");
      sluice_stage_complete_async (cache, context, NULL, on_completed, &wait);
      while (!wait.done)
        g_main_context_iteration (NULL, TRUE);
    }
  return elapsed;
}

static int
compare_gint64 (const void *a,
                const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

static void
print_times (const char *what,
             GArray     *times)
{
  gint64 *v = (gint64 *) (void *) times->data;

  if (times->len == 0)
    {
      printf ("%-8s none\n", what);
      return;
    }
  qsort (v, times->len, sizeof (gint64), compare_gint64);
  printf ("%-8s %u lookups: median %" G_GINT64_FORMAT " us, p99 %" G_GINT64_FORMAT " us, max %" G_GINT64_FORMAT " us\n",
          what, times->len, v[times->len / 2], v[MIN (times->len - 1, times->len * 99 / 100)], v[times->len - 1]);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SluiceEngine) engine = NULL;
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(GArray) hits = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GArray) misses = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  guint limit = argc > 3 ? (guint) atoi (argv[3]) : G_MAXUINT;
  guint cache_index = G_MAXUINT;
  guint unexpected = 0;

  if (argc < 3)
    {
      fprintf (stderr, "usage: cache-lookup-client PIPELINE JOBS.jsonl [N]\n");
      return 2;
    }
  engine = sluice_engine_new ();
  pipeline = sluice_pipeline_new_from_file (engine, argv[1], &error);
  if (pipeline == NULL || !g_file_get_contents (argv[2], &contents, NULL, &error))
    {
      fprintf (stderr, "cache-lookup: %s\n", error->message);
      return 1;
    }
  for (guint i = 0; i < sluice_pipeline_get_n_stages (pipeline); i++)
    if (g_str_equal (sluice_pipeline_get_stage_name (pipeline, i), "cache"))
      cache_index = i;
  if (cache_index == G_MAXUINT)
    {
      fprintf (stderr, "cache-lookup: %s has no cache stage\n", argv[1]);
      return 1;
    }

  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL && *lines[i] != '\0' && i < limit; i++)
    {
      g_autoptr(JsonNode) job = sluice_json_from_string (lines[i], -1, &error);
      JsonNode *input;
      g_autofree char *changed_text = NULL;
      g_autoptr(JsonNode) changed = NULL;
      gboolean hit;
      gint64 us;

      if (job == NULL)
        {
          fprintf (stderr, "cache-lookup: line %u: %s\n", i + 1, error->message);
          return 1;
        }
      input = json_object_get_member (json_node_get_object (job), "input");
      us = time_lookup (pipeline, cache_index, input, &hit);
      g_array_append_val (hit ? hits : misses, us);
      unexpected += !hit;

      changed_text = g_strdup_printf ("%s (never sent %u)",
                                      json_object_get_string_member (json_node_get_object (input), "text"), i);
      changed = json_node_copy (input);
      json_object_set_string_member (json_node_get_object (changed), "text", changed_text);
      us = time_lookup (pipeline, cache_index, changed, &hit);
      g_array_append_val (hit ? hits : misses, us);
      unexpected += hit;
    }

  print_times ("hit", hits);
  print_times ("miss", misses);
  if (unexpected > 0)
    printf ("note: %u lookups went the other way than expected (a job the batch did not store)\n", unexpected);
  return 0;
}
