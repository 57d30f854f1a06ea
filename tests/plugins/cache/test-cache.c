/* test-cache.c — the cache stage against sluice-mock: hits and misses,
 * what is stored (valid outputs only), the TTL, least-recently-used
 * eviction, the temperature bypass, the engine's cache modes, and single
 * flight (identical requests in flight make one provider call, counted
 * by the mock), in-process and through `sluice batch`.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-util.h"
#include "sluice-cache-private.h"

#include <string.h>

static SluiceEngine *engine;

typedef struct
{
  char *url;
  char *dir;
  char *cache;
  char *ledger;
} Fixture;

static void
fixture_set_up (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  /* Slow enough answers that concurrent requests overlap. */
  f->url = sluice_test_mock_start ("--latency", data != NULL ? data : "20ms", NULL);
  f->dir = g_dir_make_tmp ("sluice-cache-XXXXXX", &error);
  g_assert_no_error (error);
  f->cache = g_build_filename (f->dir, "cache.db", NULL);
  f->ledger = g_build_filename (f->dir, "ledger.db", NULL);
  sluice_engine_set_cache_mode (engine, SLUICE_CACHE_MODE_USE);
}

static void
fixture_tear_down (Fixture       *f,
                   gconstpointer  data)
{
  sluice_test_mock_stop ();
  g_free (f->url);
  g_free (f->dir);
  g_free (f->cache);
  g_free (f->ledger);
}

/* The pipeline under test: @cache_extra goes into the cache block,
 * @target_extra into the target, @sentiments is the output's enum. */
static SluicePipeline *
load (Fixture    *f,
      const char *cache_extra,
      const char *target_extra,
      const char *sentiments)
{
  g_autofree char *yaml = g_strdup_printf (
    "name: t\n"
    "output: {type: object, required: [sentiment], properties: {sentiment: {enum: [%s]}}}\n"
    "stages:\n"
    "  - assemble: {user: '{{text}}'}\n"
    "  - cache: {path: '%s'%s}\n"
    "  - call:\n"
    "      target: {provider: openai, model: gpt-4o-mini, base_url: '%s', api_key: k, %s}\n"
    "      retry: {max_attempts: 1}\n"
    "  - parse: {format: json, correction_retries: 0}\n"
    "  - validate: {correction_retries: 0}\n"
    "  - log: {sinks: [{sqlite: {path: '%s'}}]}\n",
    sentiments != NULL ? sentiments : "positive, negative, neutral",
    f->cache, cache_extra != NULL ? cache_extra : "", f->url,
    target_extra != NULL ? target_extra : "temperature: 0", f->ledger);

  return sluice_test_load_pipeline (engine, yaml);
}

static gint64
provider_calls (void)
{
  g_autoptr(JsonObject) stats = sluice_test_mock_stats ();

  return json_object_get_int_member (stats, "requests");
}

/* cache_hit of the request: 1, 0, or -1 when not noted (bypassed). */
static gint
hit_of (SluiceContext *context)
{
  JsonNode *hit = json_object_get_member (sluice_context_get_annotations (context), "cache_hit");

  return hit == NULL ? -1 : json_node_get_boolean (hit);
}

static JsonArray *
query (const char *path,
       const char *sql)
{
  g_autoptr(GError) error = NULL;
  JsonArray *rows = sluice_db_query (path, sql, &error);

  g_assert_no_error (error);
  return rows;
}

static gint64
count_entries (Fixture *f)
{
  g_autoptr(JsonArray) rows = query (f->cache, "SELECT count(*) AS n FROM cache");

  return json_object_get_int_member (json_array_get_object_element (rows, 0), "n");
}

static void
exec_sql (const char *path,
          const char *sql)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
}

/* Runs one request and flushes, so that what it stored is committed. */
static SluiceContext *
run (SluicePipeline *pipeline,
     const char     *text)
{
  g_autofree char *input = g_strdup_printf ("{\"text\": \"%s\"}", text);
  SluiceContext *context = sluice_test_run (pipeline, input);

  sluice_test_flush (pipeline);
  return context;
}

static void
test_hit_and_miss (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(SluicePipeline) pipeline = load (f, NULL, NULL, NULL);
  g_autoptr(SluiceContext) first = run (pipeline, "I love it");
  g_autoptr(SluiceContext) second = run (pipeline, "I love it");
  g_autoptr(SluiceContext) other = run (pipeline, "I hate it");
  g_autoptr(JsonArray) rows = NULL;
  g_autofree char *first_text = NULL, *second_text = NULL;
  JsonObject *row;

  g_assert_no_error (sluice_context_get_error (first));
  g_assert_no_error (sluice_context_get_error (second));
  g_assert_cmpint (hit_of (first), ==, 0);
  g_assert_cmpint (hit_of (second), ==, 1);
  g_assert_cmpint (hit_of (other), ==, 0);
  /* The hit answered with the stored output, without a provider call. */
  first_text = sluice_json_to_string (sluice_context_get_output (first));
  second_text = sluice_json_to_string (sluice_context_get_output (second));
  g_assert_cmpstr (first_text, ==, second_text);
  sluice_test_assert_contains (first_text, "\"sentiment\":\"positive\"");
  g_assert_cmpuint (json_array_get_length (sluice_context_get_attempts (second)), ==, 0);
  g_assert_cmpint (provider_calls (), ==, 2);
  g_assert_cmpint (count_entries (f), ==, 2);

  /* The ledger: the hit costs nothing and made no attempt. */
  rows = query (f->ledger, "SELECT cache_hit, attempts, cost_usd, outcome FROM requests ORDER BY rowid");
  g_assert_cmpuint (json_array_get_length (rows), ==, 3);
  row = json_array_get_object_element (rows, 0);
  g_assert_cmpint (json_object_get_int_member (row, "cache_hit"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (row, "attempts"), ==, 1);
  g_assert_cmpfloat (json_object_get_double_member (row, "cost_usd"), >, 0);
  row = json_array_get_object_element (rows, 1);
  g_assert_cmpint (json_object_get_int_member (row, "cache_hit"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (row, "attempts"), ==, 0);
  g_assert_cmpfloat (json_object_get_double_member (row, "cost_usd"), ==, 0);
  g_assert_cmpstr (json_object_get_string_member (row, "outcome"), ==, "ok");
}

/* A hit skips call, parse and validate but not the stages after them:
 * format renders the cached output as it rendered the fresh one. */
static void
test_hit_is_formatted (Fixture       *f,
                       gconstpointer  data)
{
  g_autofree char *yaml = g_strdup_printf (
    "name: t\n"
    "output: {type: object, required: [sentiment], properties: {sentiment: {enum: [positive, negative, neutral]}}}\n"
    "stages:\n"
    "  - assemble: {user: '{{text}}'}\n"
    "  - cache: {path: '%s'}\n"
    "  - call:\n"
    "      target: {provider: openai, model: gpt-4o-mini, base_url: '%s', api_key: k, temperature: 0}\n"
    "      retry: {max_attempts: 1}\n"
    "  - parse: {format: json, correction_retries: 0}\n"
    "  - validate: {correction_retries: 0}\n"
    "  - format: {template: 'verdict: {{sentiment}}'}\n"
    "  - log: {sinks: [{sqlite: {path: '%s'}}]}\n",
    f->cache, f->url, f->ledger);
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
  g_autoptr(SluiceContext) first = run (pipeline, "I love it");
  g_autoptr(SluiceContext) second = run (pipeline, "I love it");

  g_assert_no_error (sluice_context_get_error (second));
  g_assert_cmpint (hit_of (first), ==, 0);
  g_assert_cmpint (hit_of (second), ==, 1);
  g_assert_cmpint (provider_calls (), ==, 1);
  g_assert_nonnull (sluice_context_get_formatted (second));
  g_assert_cmpstr (json_node_get_string (sluice_context_get_formatted (first)), ==, "verdict: positive");
  g_assert_cmpstr (json_node_get_string (sluice_context_get_formatted (second)), ==, "verdict: positive");
}

/* A failed validation is never stored: the same request calls again. */
static void
test_invalid_not_stored (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(SluicePipeline) pipeline = load (f, NULL, NULL, "neutral");
  g_autoptr(SluiceContext) first = run (pipeline, "I love it");
  g_autoptr(SluiceContext) second = run (pipeline, "I love it");

  g_assert_error (sluice_context_get_error (first), SLUICE_ERROR, SLUICE_ERROR_VALIDATION);
  g_assert_error (sluice_context_get_error (second), SLUICE_ERROR, SLUICE_ERROR_VALIDATION);
  g_assert_cmpint (hit_of (second), ==, 0);
  g_assert_cmpint (provider_calls (), ==, 2);
  g_assert_cmpint (count_entries (f), ==, 0);
}

/* A provider error is never stored either. */
static void
test_error_not_stored (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(SluiceContext) first = NULL;
  g_autoptr(SluiceContext) second = NULL;

  sluice_test_mock_stop ();
  g_free (f->url);
  f->url = sluice_test_mock_start ("--faults", "1", "--fault-kinds", "server_error", NULL);
  pipeline = load (f, NULL, NULL, NULL);
  first = run (pipeline, "I love it");
  second = run (pipeline, "I love it");

  g_assert_nonnull (sluice_context_get_error (first));
  g_assert_nonnull (sluice_context_get_error (second));
  g_assert_cmpint (hit_of (second), ==, 0);
  g_assert_cmpint (provider_calls (), ==, 2);
  g_assert_cmpint (count_entries (f), ==, 0);
}

/* An entry older than the TTL is not served; the fresh answer replaces it. */
static void
test_ttl (Fixture       *f,
          gconstpointer  data)
{
  g_autoptr(SluicePipeline) pipeline = load (f, ", ttl: 1h", NULL, NULL);
  g_autoptr(SluiceContext) first = run (pipeline, "I love it");
  g_autoptr(SluiceContext) fresh = run (pipeline, "I love it");
  g_autoptr(SluiceContext) expired = NULL;
  g_autoptr(SluiceContext) again = NULL;
  g_autoptr(JsonArray) rows = NULL;

  g_assert_cmpint (hit_of (fresh), ==, 1);
  /* Stored two hours ago, as far as the file says. */
  exec_sql (f->cache, "UPDATE cache SET created = created - 7200000, last_used = last_used - 7200000");
  expired = run (pipeline, "I love it");
  g_assert_cmpint (hit_of (expired), ==, 0);
  g_assert_cmpint (provider_calls (), ==, 2);
  rows = query (f->cache, "SELECT count(*) AS n FROM cache WHERE created > "
                          "(CAST(strftime('%s', 'now') AS INTEGER) - 3600) * 1000");
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (rows, 0), "n"), ==, 1);
  again = run (pipeline, "I love it");
  g_assert_cmpint (hit_of (again), ==, 1);
  g_assert_cmpint (provider_calls (), ==, 2);
}

/* max_entries 2: A and B stored, A used again, C stored: B, the least
 * recently used, goes. */
static void
test_lru_eviction (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(SluicePipeline) pipeline = load (f, ", max_entries: 2", NULL, NULL);
  const char * const steps[] = { "alpha good", "beta bad", "alpha good", "gamma fine", "alpha good", "beta bad" };
  const gint hits[] = { 0, 0, 1, 0, 1, 0 };
  const gint64 calls[] = { 1, 2, 2, 3, 3, 4 };

  for (guint i = 0; i < G_N_ELEMENTS (steps); i++)
    {
      g_autoptr(SluiceContext) context = NULL;

      /* Distinct last-use times (milliseconds) for each step. */
      g_usleep (3000);
      context = run (pipeline, steps[i]);
      g_assert_no_error (sluice_context_get_error (context));
      g_assert_cmpint (hit_of (context), ==, hits[i]);
      g_assert_cmpint (provider_calls (), ==, calls[i]);
      g_assert_cmpint (count_entries (f), <=, 2);
    }
}

/* A temperature above 0 bypasses the cache (nothing noted, nothing
 * stored) unless the block says force: true. */
static void
test_temperature_bypass (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(SluicePipeline) warm = load (f, NULL, "temperature: 0.7", NULL);
  g_autoptr(SluiceContext) a = run (warm, "I love it");
  g_autoptr(SluiceContext) b = run (warm, "I love it");
  g_autoptr(SluicePipeline) forced = load (f, ", force: true", "temperature: 0.7", NULL);
  g_autoptr(SluiceContext) c = run (forced, "I love it");
  g_autoptr(SluiceContext) d = run (forced, "I love it");
  g_autoptr(SluicePipeline) unset = load (f, NULL, "max_tokens: 50", NULL);
  g_autoptr(SluiceContext) e = run (unset, "I love it");
  g_autoptr(JsonArray) rows = NULL;

  g_assert_cmpint (hit_of (a), ==, -1);
  g_assert_cmpint (hit_of (b), ==, -1);
  g_assert_cmpint (hit_of (c), ==, 0);
  g_assert_cmpint (hit_of (d), ==, 1);
  g_assert_cmpint (hit_of (e), ==, -1);   /* no temperature: the provider's default, 1 */
  g_assert_cmpint (provider_calls (), ==, 4);
  g_assert_cmpint (count_entries (f), ==, 1);
  rows = query (f->ledger, "SELECT count(*) AS n FROM requests WHERE cache_hit IS NULL");
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (rows, 0), "n"), ==, 3);
}

/* --no-cache neither looks up nor stores; --refresh-cache skips the
 * lookup and stores the fresh answer. */
static void
test_modes (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(SluicePipeline) pipeline = load (f, NULL, NULL, NULL);
  g_autoptr(SluiceContext) off = NULL, refreshed = NULL, used = NULL, refreshed_again = NULL;

  sluice_engine_set_cache_mode (engine, SLUICE_CACHE_MODE_OFF);
  off = run (pipeline, "I love it");
  g_assert_cmpint (hit_of (off), ==, -1);
  g_assert_cmpint (count_entries (f), ==, 0);

  sluice_engine_set_cache_mode (engine, SLUICE_CACHE_MODE_REFRESH);
  refreshed = run (pipeline, "I love it");
  g_assert_cmpint (hit_of (refreshed), ==, -1);
  g_assert_cmpint (count_entries (f), ==, 1);
  refreshed_again = run (pipeline, "I love it");
  g_assert_cmpint (provider_calls (), ==, 3);

  sluice_engine_set_cache_mode (engine, SLUICE_CACHE_MODE_USE);
  used = run (pipeline, "I love it");
  g_assert_cmpint (hit_of (used), ==, 1);
  g_assert_cmpint (provider_calls (), ==, 3);
  g_assert_cmpint (count_entries (f), ==, 1);
}

typedef struct
{
  guint pending;
} Flight;

static void
on_done (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Flight *flight = user_data;

  sluice_pipeline_process_finish (SLUICE_PIPELINE (source), result, NULL);
  flight->pending--;
}

static void
run_concurrently (SluicePipeline *pipeline,
                  SluiceContext **contexts,
                  guint           n)
{
  Flight flight = { n };

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(JsonNode) input = sluice_json_from_string ("{\"text\": \"same words\"}", -1, NULL);

      contexts[i] = sluice_context_new (input);
      sluice_pipeline_process_async (pipeline, contexts[i], NULL, on_done, &flight);
    }
  while (flight.pending > 0)
    g_main_context_iteration (NULL, TRUE);
  sluice_test_flush (pipeline);
}

/* Eight identical requests at once: one provider call, seven hits. */
static void
test_single_flight (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(SluicePipeline) pipeline = load (f, NULL, NULL, NULL);
  SluiceContext *contexts[8];
  guint hits = 0;
  g_autofree char *leader_output = NULL;

  run_concurrently (pipeline, contexts, G_N_ELEMENTS (contexts));
  g_assert_cmpint (provider_calls (), ==, 1);
  for (guint i = 0; i < G_N_ELEMENTS (contexts); i++)
    {
      g_autofree char *output = sluice_json_to_string (sluice_context_get_output (contexts[i]));

      g_assert_no_error (sluice_context_get_error (contexts[i]));
      hits += hit_of (contexts[i]) == 1;
      if (leader_output == NULL)
        leader_output = g_steal_pointer (&output);
      else
        g_assert_cmpstr (output, ==, leader_output);
      g_object_unref (contexts[i]);
    }
  g_assert_cmpuint (hits, ==, 7);
  g_assert_cmpint (count_entries (f), ==, 1);
}

/* When the leader fails its waiters do not get its error as an answer:
 * each takes its turn as the leader and makes its own call. */
static void
test_single_flight_leader_fails (Fixture       *f,
                                 gconstpointer  data)
{
  g_autoptr(SluicePipeline) pipeline = NULL;
  SluiceContext *contexts[4];

  sluice_test_mock_stop ();
  g_free (f->url);
  f->url = sluice_test_mock_start ("--faults", "1", "--fault-kinds", "server_error", "--latency", "20ms", NULL);
  pipeline = load (f, NULL, NULL, NULL);
  run_concurrently (pipeline, contexts, G_N_ELEMENTS (contexts));
  g_assert_cmpint (provider_calls (), ==, 4);
  for (guint i = 0; i < G_N_ELEMENTS (contexts); i++)
    {
      g_assert_error (sluice_context_get_error (contexts[i]), SLUICE_ERROR, SLUICE_ERROR_SERVER);
      g_assert_cmpint (hit_of (contexts[i]), ==, 0);
      g_object_unref (contexts[i]);
    }
  g_assert_cmpint (count_entries (f), ==, 0);
}

/* The same through the command line: N identical jobs in one batch, one
 * call at the mock; a second batch of them makes none. */
static void
test_batch_single_flight (Fixture       *f,
                          gconstpointer  data)
{
  g_autofree char *pipeline = g_build_filename (f->dir, "p.yaml", NULL);
  g_autofree char *input = g_build_filename (f->dir, "in.jsonl", NULL);
  g_autofree char *output = g_build_filename (f->dir, "out.jsonl", NULL);
  g_autofree char *yaml = g_strdup_printf (
    "name: t\n"
    "stages:\n"
    "  - assemble: {user: '{{text}}'}\n"
    "  - cache: {path: '%s'}\n"
    "  - call: {target: {provider: openai, model: gpt-4o-mini, base_url: '%s', api_key: k, temperature: 0}}\n"
    "  - parse: {format: json}\n"
    "  - log: {sinks: [{sqlite: {path: '%s'}}]}\n", f->cache, f->url, f->ledger);
  g_autoptr(GString) jobs = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonArray) rows = NULL;

  for (guint i = 0; i < 12; i++)
    g_string_append_printf (jobs, "{\"custom_id\": \"j%u\", \"input\": {\"text\": \"the same review\"}}\n", i);
  g_file_set_contents (pipeline, yaml, -1, &error);
  g_assert_no_error (error);
  g_file_set_contents (input, jobs->str, -1, &error);
  g_assert_no_error (error);

  for (guint round = 0; round < 2; round++)
    {
      g_autoptr(GSubprocess) cli =
        g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, &error,
                          g_getenv ("SLUICE_CLI"), "batch", pipeline, input, "-o", output, "-q",
                          "--json", "--overwrite", "--concurrency", "12", NULL);
      g_autofree char *summary_text = NULL;
      g_autofree char *errors = NULL;
      g_autoptr(JsonNode) summary = NULL;

      g_assert_no_error (error);
      g_subprocess_communicate_utf8 (cli, NULL, NULL, &summary_text, &errors, &error);
      g_assert_no_error (error);
      if (!g_subprocess_get_if_exited (cli) || g_subprocess_get_exit_status (cli) != 0)
        g_error ("sluice batch failed: %s", errors);
      g_assert_cmpint (provider_calls (), ==, 1);
      /* The summary counts what the cache answered: 11 then 12 hits. */
      summary = json_from_string (summary_text, &error);
      g_assert_no_error (error);
      g_assert_cmpint (json_object_get_int_member (json_node_get_object (summary), "cache_hits"), ==, round == 0 ? 11 : 12);
      g_assert_cmpint (json_object_get_int_member (json_node_get_object (summary), "cache_misses"), ==, round == 0 ? 1 : 0);
    }
  rows = query (f->ledger, "SELECT cache_hit, count(*) AS n FROM requests GROUP BY cache_hit ORDER BY cache_hit");
  g_assert_cmpuint (json_array_get_length (rows), ==, 2);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (rows, 0), "n"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (rows, 1), "n"), ==, 23);
}

/* The key's text does not depend on the order of object members, and
 * 0 and 0.0 are one number. */
static void
test_canonical_json (void)
{
  g_autoptr(JsonNode) a = sluice_json_from_string ("{\"b\": 1, \"a\": [{\"y\": 2, \"x\": 0.0}], \"c\": \"\\u00e9\"}", -1, NULL);
  g_autoptr(JsonNode) b = sluice_json_from_string ("{\"c\": \"\\u00e9\", \"a\": [{\"x\": 0, \"y\": 2}], \"b\": 1}", -1, NULL);
  g_autofree char *text_a = cache_canonical_json (a);
  g_autofree char *text_b = cache_canonical_json (b);

  g_assert_cmpstr (text_a, ==, text_b);
  g_assert_cmpstr (text_a, ==, "{\"a\":[{\"x\":0,\"y\":2}],\"b\":1,\"c\":\"\xc3\xa9\"}");
}

/* The cache must sit after assemble (its key covers the messages). */
static void
test_order_checked (void)
{
  g_autofree char *path = sluice_test_write_file ("p.yaml",
    "name: t\n"
    "stages:\n"
    "  - cache: {}\n"
    "  - assemble: {user: hi}\n"
    "  - call: {target: {provider: openai, model: gpt-4o-mini, temperature: 0}}\n");
  g_autoptr(GError) error = NULL;
  g_autoptr(SluicePipeline) pipeline = sluice_pipeline_new_from_file (engine, path, &error);

  g_assert_null (pipeline);
  g_assert_nonnull (error);
  sluice_test_assert_contains (error->message, "p.yaml:3:5: error: stage 'cache' must come after the assemble "
                                               "stage (stage 2): its key covers the messages assemble builds");
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  engine = sluice_engine_new ();

#define ADD(path, func) g_test_add ("/cache/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("hit-and-miss", test_hit_and_miss);
  ADD ("hit-is-formatted", test_hit_is_formatted);
  ADD ("invalid-not-stored", test_invalid_not_stored);
  ADD ("error-not-stored", test_error_not_stored);
  ADD ("ttl", test_ttl);
  ADD ("lru-eviction", test_lru_eviction);
  ADD ("temperature-bypass", test_temperature_bypass);
  ADD ("modes", test_modes);
  ADD ("single-flight", test_single_flight);
  ADD ("single-flight-leader-fails", test_single_flight_leader_fails);
  ADD ("batch-single-flight", test_batch_single_flight);
#undef ADD
  g_test_add_func ("/cache/canonical-json", test_canonical_json);
  g_test_add_func ("/cache/order-checked", test_order_checked);

  status = g_test_run ();
  g_object_unref (engine);
  return status;
}
