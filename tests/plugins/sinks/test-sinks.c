/* test-sinks.c — the cost sinks against the real mock provider: costs per
 * provider with cached, cache-write and reasoning tokens; unknown prices
 * recorded as null; the jsonl and metrics sinks; breaker and budget
 * events; a locked ledger that loses nothing.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

#include "sluice-metrics-private.h"

#include <glib/gstdio.h>
#include <sqlite3.h>
#include <unistd.h>
#include <string.h>

static SluiceEngine *engine;

/* The warnings these tests provoke are kept (sluice_test_get_logs), not
 * fatal; criticals still are. */
#define warnings_text() sluice_test_get_logs ()

typedef struct
{
  char *dir;
  char *ledger;
  char *jsonl;
  char *prom;
} Files;

static void
files_free (Files *files)
{
  g_free (files->dir);
  g_free (files->ledger);
  g_free (files->jsonl);
  g_free (files->prom);
  g_free (files);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Files, files_free)

static Files *
files_new (void)
{
  Files *files = g_new0 (Files, 1);

  files->dir = g_dir_make_tmp ("sluice-sinks-XXXXXX", NULL);
  g_assert_nonnull (files->dir);
  files->ledger = g_build_filename (files->dir, "ledger.db", NULL);
  files->jsonl = g_build_filename (files->dir, "records.jsonl", NULL);
  files->prom = g_build_filename (files->dir, "sluice.prom", NULL);
  return files;
}

/* assemble, call with @call (YAML flow; BASE is the mock's URL), log to
 * the three sinks in @files; @sqlite_extra goes into the sqlite block. */
static SluicePipeline *
load (Files      *files,
      const char *base_url,
      const char *call,
      const char *sqlite_extra)
{
  g_autoptr(GString) block = g_string_new (call);
  g_autofree char *yaml = NULL;

  g_string_replace (block, "BASE", base_url, 0);
  yaml = g_strdup_printf ("name: costs\n"
                          "stages:\n"
                          "  - assemble: {user: \"{{text}}\"}\n"
                          "  - call: %s\n"
                          "  - log: {sinks: [{sqlite: {path: \"%s\"%s}}, {jsonl: {path: \"%s\"}}, "
                          "{metrics: {path: \"%s\"}}]}\n",
                          block->str, files->ledger, sqlite_extra != NULL ? sqlite_extra : "",
                          files->jsonl, files->prom);
  return sluice_test_load_pipeline (engine, yaml);
}

static JsonArray *
query (const char *ledger,
       const char *sql)
{
  g_autoptr(GError) error = NULL;
  JsonArray *rows = sluice_db_query (ledger, sql, &error);

  g_assert_no_error (error);
  return rows;
}

static JsonObject *
row (JsonArray *rows,
     guint      index)
{
  g_assert_cmpuint (index, <, json_array_get_length (rows));
  return json_array_get_object_element (rows, index);
}

/* The jsonl file's records, each line parsed. */
static GPtrArray *
read_jsonl (const char *path)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  GPtrArray *records = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);

  g_assert_true (g_file_get_contents (path, &contents, NULL, NULL));
  g_assert_true (g_str_has_suffix (contents, "\n"));
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL && *lines[i] != '\0'; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(JsonNode) node = sluice_json_from_string (lines[i], -1, &error);

      g_assert_no_error (error);
      g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
      g_ptr_array_add (records, json_object_ref (json_node_get_object (node)));
    }
  return records;
}

/* ---- cost per provider ------------------------------------------------------- */

typedef struct
{
  const char *name;
  const char *target;      /* the call block's target, BASE for the mock */
  const char *body;        /* the provider's answer, with its usage */
  gdouble     cost;        /* < 0: unknown */
  gint64      prompt, completion, cached, cache_write, reasoning;
} CostCase;

static const CostCase cost_cases[] = {
  /* prompt_tokens include the cached ones; reasoning is in completion:
   * 500 x $2.50 + 1500 x $1.25 + 300 x $10 per million */
  { "openai", "{provider: openai, model: gpt-4o, base_url: \"BASE/v1\", api_key: k}",
    "{\"id\": \"c1\", \"object\": \"chat.completion\", \"model\": \"gpt-4o\", \"choices\": [{\"index\": 0, "
    "\"message\": {\"role\": \"assistant\", \"content\": \"fine\"}, \"finish_reason\": \"stop\"}], "
    "\"usage\": {\"prompt_tokens\": 2000, \"completion_tokens\": 300, \"total_tokens\": 2300, "
    "\"prompt_tokens_details\": {\"cached_tokens\": 1500}, \"completion_tokens_details\": {\"reasoning_tokens\": 100}}}",
    0.006125, 2000, 300, 1500, 0, 100 },
  /* input_tokens exclude cache reads and writes: 100 x $3 + 2000 x $0.30
   * + 1000 x $3.75 + 500 x $15 per million */
  { "anthropic", "{provider: anthropic, model: claude-sonnet-4-5, base_url: \"BASE/v1\", api_key: k}",
    "{\"id\": \"msg_1\", \"type\": \"message\", \"role\": \"assistant\", \"model\": \"claude-sonnet-4-5\", "
    "\"content\": [{\"type\": \"text\", \"text\": \"fine\"}], \"stop_reason\": \"end_turn\", \"stop_sequence\": null, "
    "\"usage\": {\"input_tokens\": 100, \"cache_read_input_tokens\": 2000, \"cache_creation_input_tokens\": 1000, "
    "\"output_tokens\": 500}}",
    0.01215, 3100, 500, 2000, 1000, 0 },
  /* thoughts are billed as output: 200 x $0.30 + 800 x $0.075 + 200 x $2.50 */
  { "gemini", "{provider: gemini, model: gemini-2.5-flash, base_url: \"BASE/v1beta\", api_key: k}",
    "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"fine\"}], \"role\": \"model\"}, \"finishReason\": \"STOP\"}], "
    "\"usageMetadata\": {\"promptTokenCount\": 1000, \"cachedContentTokenCount\": 800, \"candidatesTokenCount\": 50, "
    "\"thoughtsTokenCount\": 150, \"totalTokenCount\": 1200}, \"modelVersion\": \"gemini-2.5-flash\"}",
    0.00062, 1000, 200, 800, 0, 150 },
  /* a model the catalog does not know: unknown, not free */
  { "unknown-model", "{provider: openai, model: house-model-7, base_url: \"BASE/v1\", api_key: k}",
    "{\"id\": \"c1\", \"object\": \"chat.completion\", \"model\": \"house-model-7\", \"choices\": [{\"index\": 0, "
    "\"message\": {\"role\": \"assistant\", \"content\": \"fine\"}, \"finish_reason\": \"stop\"}], "
    "\"usage\": {\"prompt_tokens\": 20, \"completion_tokens\": 5, \"total_tokens\": 25}}",
    -1, 20, 5, 0, 0, 0 },
};

static void
assert_cost (JsonObject *object,
             gdouble     expected)
{
  JsonNode *node = json_object_get_member (object, "cost_usd");

  g_assert_nonnull (node);
  if (expected < 0)
    g_assert_true (JSON_NODE_HOLDS_NULL (node));
  else
    g_assert_cmpfloat_with_epsilon (json_node_get_double (node), expected, 1e-15);
}

static void
test_cost (gconstpointer data)
{
  const CostCase *c = data;
  g_autoptr(Files) files = files_new ();
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *url = NULL;
  g_autofree char *call = g_strdup_printf ("{target: %s, retry: {max_attempts: 1}}", c->target);
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(SluiceContext) context = NULL;
  g_autoptr(JsonArray) attempts = NULL;
  g_autoptr(JsonArray) requests = NULL;
  g_autoptr(GPtrArray) records = NULL;
  JsonObject *attempt;

  /* every request: the marker is in every prompt */
  sluice_test_add_rule (rules, "hello", sluice_test_status_step (200, c->body, "application/json", NULL));
  url = sluice_test_mock_start_rules (rules, NULL);
  pipeline = load (files, url, call, NULL);
  context = sluice_test_run (pipeline, "{\"text\": \"hello\"}");
  g_assert_no_error (sluice_context_get_error (context));
  assert_cost (json_array_get_object_element (sluice_context_get_attempts (context), 0), c->cost);
  sluice_test_flush (pipeline);

  attempts = query (files->ledger, "SELECT * FROM attempts");
  g_assert_cmpuint (json_array_get_length (attempts), ==, 1);
  attempt = row (attempts, 0);
  assert_cost (attempt, c->cost);
  g_assert_cmpint (json_object_get_int_member (attempt, "prompt_tokens"), ==, c->prompt);
  g_assert_cmpint (json_object_get_int_member (attempt, "completion_tokens"), ==, c->completion);
  g_assert_cmpint (json_object_get_int_member (attempt, "cached_tokens"), ==, c->cached);
  g_assert_cmpint (json_object_get_int_member (attempt, "cache_write_tokens"), ==, c->cache_write);
  g_assert_cmpint (json_object_get_int_member (attempt, "reasoning_tokens"), ==, c->reasoning);
  requests = query (files->ledger, "SELECT * FROM requests");
  assert_cost (row (requests, 0), c->cost);

  /* the jsonl sink has the same record: one attempt, one request */
  records = read_jsonl (files->jsonl);
  g_assert_cmpuint (records->len, ==, 2);
  g_assert_cmpstr (sluice_json_get_string (g_ptr_array_index (records, 0), "type"), ==, "attempt");
  g_assert_cmpstr (sluice_json_get_string (g_ptr_array_index (records, 1), "type"), ==, "request");
  assert_cost (g_ptr_array_index (records, 0), c->cost);
  assert_cost (g_ptr_array_index (records, 1), c->cost);
  sluice_test_mock_stop ();
}

/* ---- jsonl ------------------------------------------------------------------- */

/* Records append across runs; the key never shows. */
static void
test_jsonl_appends_without_secrets (void)
{
  g_autoptr(Files) files = files_new ();
  g_autoptr(JsonArray) rules = json_array_new ();
  g_autofree char *url = NULL;
  g_autofree char *contents = NULL;
  g_autoptr(GPtrArray) records = NULL;

  /* a provider that quotes the key back in its error */
  sluice_test_add_rule (rules, "leak", sluice_test_status_step (401,
    "{\"error\": {\"message\": \"Incorrect API key provided: sk-sinks-secret-4242\", \"type\": \"invalid_request_error\"}}",
    "application/json", NULL));
  sluice_test_add_rule (rules, "hello", json_node_init_string (json_node_alloc (), "ok"));
  url = sluice_test_mock_start_rules (rules, NULL);
  g_setenv ("SINKS_TEST_KEY", "sk-sinks-secret-4242", TRUE);
  for (guint run = 0; run < 3; run++)
    {
      g_autoptr(SluicePipeline) pipeline = load (files, url,
        "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: \"${SINKS_TEST_KEY}\"}}",
        NULL);
      g_autoptr(SluiceContext) context = sluice_test_run (pipeline, run < 2 ? "{\"text\": \"hello\"}"
                                                                             : "{\"text\": \"leak\"}");

      if (run < 2)
        g_assert_no_error (sluice_context_get_error (context));
      else
        g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_AUTH);
      sluice_test_flush (pipeline);
    }
  records = read_jsonl (files->jsonl);
  g_assert_cmpuint (records->len, ==, 6);
  sluice_test_assert_contains (sluice_json_get_string (g_ptr_array_index (records, 4), "error_message"),
                               "Incorrect API key provided");
  for (guint i = 0; i < records->len; i++)
    {
      JsonObject *record = g_ptr_array_index (records, i);

      g_assert_cmpstr (sluice_json_get_string (record, "type"), ==, i % 2 == 0 ? "attempt" : "request");
      g_assert_cmpstr (sluice_json_get_string (record, "pipeline"), ==, "costs");
      g_assert_nonnull (sluice_json_get_string (record, "request_id"));
    }
  g_assert_cmpstr (sluice_json_get_string (g_ptr_array_index (records, 0), "target"), ==, "openai/gpt-4o-mini");
  g_assert_true (g_file_get_contents (files->jsonl, &contents, NULL, NULL));
  g_assert_null (strstr (contents, "sk-sinks-secret-4242"));
  g_unsetenv ("SINKS_TEST_KEY");
  sluice_test_mock_stop ();
}

static void
test_sink_config_checked (void)
{
  static const struct { const char *sinks; const char *message; } cases[] = {
    { "[{jsonl: {}}]", "path" },
    { "[{jsonl: {path: \"/nonexistent-dir/x.jsonl\"}}]", "/nonexistent-dir/x.jsonl" },
    { "[{metrics: {path: 3}}]", "path" },
    { "[{sqlite: {busy_timeout_ms: 0}}]", "busy_timeout_ms" },
    { "[{jsonl: {path: a.jsonl, rotate: true}}]", "rotate" },
    { "[sqlite, sqlite]", "sinks[1] repeats sinks[0]: every record would be written twice" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *yaml = g_strdup_printf ("name: t\nstages:\n  - assemble: {user: hi}\n"
                                               "  - call: {target: {provider: openai, model: gpt-4o-mini, "
                                               "api_key: k}}\n  - log: {sinks: %s}\n", cases[i].sinks);
      g_autofree char *path = sluice_test_write_file ("pipeline.yaml", yaml);
      g_autoptr(GError) error = NULL;
      g_autoptr(SluicePipeline) pipeline = sluice_pipeline_new_from_file (engine, path, &error);

      g_assert_null (pipeline);
      g_assert_nonnull (error);
      g_test_message ("%s → %s", cases[i].sinks, error->message);
      sluice_test_assert_contains (error->message, cases[i].message);
    }
}

/* ---- metrics ----------------------------------------------------------------- */

static void
add (SluiceMetrics *metrics,
     const char    *json)
{
  g_autoptr(JsonNode) node = sluice_json_from_string (json, -1, NULL);

  g_assert_nonnull (node);
  sluice_metrics_add_record (metrics, json_node_get_object (node));
}

static const char expected_exposition[] =
  "# HELP sluice_attempts_total Provider attempts by outcome.\n"
  "# TYPE sluice_attempts_total counter\n"
  "sluice_attempts_total{target=\"odd \\\"name\\\"\\\\x\\nnext\",outcome=\"ok\"} 1\n"
  "sluice_attempts_total{target=\"openai/gpt-4o\",outcome=\"error\",error_kind=\"rate_limited\"} 1\n"
  "sluice_attempts_total{target=\"openai/gpt-4o\",outcome=\"ok\"} 2\n"
  "# HELP sluice_cache_requests_total Requests that looked the cache up, by result.\n"
  "# TYPE sluice_cache_requests_total counter\n"
  "sluice_cache_requests_total{pipeline=\"p\",result=\"hit\"} 1\n"
  "sluice_cache_requests_total{pipeline=\"p\",result=\"miss\"} 1\n"
  "# HELP sluice_cost_unknown_attempts_total Attempts whose cost is unknown (no price in the catalog).\n"
  "# TYPE sluice_cost_unknown_attempts_total counter\n"
  "sluice_cost_unknown_attempts_total{target=\"odd \\\"name\\\"\\\\x\\nnext\"} 1\n"
  "# HELP sluice_cost_usd_total Known cost of attempts in US dollars.\n"
  "# TYPE sluice_cost_usd_total counter\n"
  "sluice_cost_usd_total{target=\"openai/gpt-4o\"} 0.006125\n"
  "# HELP sluice_events_total Breaker transitions, budget refusals and sink failures.\n"
  "# TYPE sluice_events_total counter\n"
  "sluice_events_total{event=\"breaker_open\",target=\"openai/gpt-4o\"} 1\n"
  "# HELP sluice_request_latency_seconds Time from a request's start to its end.\n"
  "# TYPE sluice_request_latency_seconds histogram\n"
  "sluice_request_latency_seconds_bucket{pipeline=\"p\",le=\"0.05\"} 1\n"
  "sluice_request_latency_seconds_bucket{pipeline=\"p\",le=\"0.1\"} 1\n"
  "sluice_request_latency_seconds_bucket{pipeline=\"p\",le=\"0.25\"} 1\n"
  "sluice_request_latency_seconds_bucket{pipeline=\"p\",le=\"0.5\"} 1\n"
  "sluice_request_latency_seconds_bucket{pipeline=\"p\",le=\"1\"} 2\n"
  "sluice_request_latency_seconds_bucket{pipeline=\"p\",le=\"2.5\"} 2\n"
  "sluice_request_latency_seconds_bucket{pipeline=\"p\",le=\"5\"} 3\n"
  "sluice_request_latency_seconds_bucket{pipeline=\"p\",le=\"10\"} 3\n"
  "sluice_request_latency_seconds_bucket{pipeline=\"p\",le=\"30\"} 3\n"
  "sluice_request_latency_seconds_bucket{pipeline=\"p\",le=\"60\"} 3\n"
  "sluice_request_latency_seconds_bucket{pipeline=\"p\",le=\"+Inf\"} 3\n"
  "sluice_request_latency_seconds_sum{pipeline=\"p\"} 4.02\n"
  "sluice_request_latency_seconds_count{pipeline=\"p\"} 3\n"
  "# HELP sluice_requests_total Requests by final outcome.\n"
  "# TYPE sluice_requests_total counter\n"
  "sluice_requests_total{pipeline=\"p\",outcome=\"error\",error_kind=\"timeout\"} 1\n"
  "sluice_requests_total{pipeline=\"p\",outcome=\"ok\"} 2\n"
  "# HELP sluice_tokens_total Tokens billed by attempts, by kind.\n"
  "# TYPE sluice_tokens_total counter\n"
  "sluice_tokens_total{target=\"odd \\\"name\\\"\\\\x\\nnext\",kind=\"prompt\"} 5\n"
  "sluice_tokens_total{target=\"openai/gpt-4o\",kind=\"cached\"} 1500\n"
  "sluice_tokens_total{target=\"openai/gpt-4o\",kind=\"completion\"} 300\n"
  "sluice_tokens_total{target=\"openai/gpt-4o\",kind=\"prompt\"} 2000\n"
  "sluice_tokens_total{target=\"openai/gpt-4o\",kind=\"reasoning\"} 100\n"
  "# HELP sluice_ttft_seconds Time to the first token of streamed attempts.\n"
  "# TYPE sluice_ttft_seconds histogram\n"
  "sluice_ttft_seconds_bucket{target=\"openai/gpt-4o\",le=\"0.025\"} 0\n"
  "sluice_ttft_seconds_bucket{target=\"openai/gpt-4o\",le=\"0.05\"} 1\n"
  "sluice_ttft_seconds_bucket{target=\"openai/gpt-4o\",le=\"0.1\"} 1\n"
  "sluice_ttft_seconds_bucket{target=\"openai/gpt-4o\",le=\"0.25\"} 2\n"
  "sluice_ttft_seconds_bucket{target=\"openai/gpt-4o\",le=\"0.5\"} 2\n"
  "sluice_ttft_seconds_bucket{target=\"openai/gpt-4o\",le=\"1\"} 2\n"
  "sluice_ttft_seconds_bucket{target=\"openai/gpt-4o\",le=\"2.5\"} 2\n"
  "sluice_ttft_seconds_bucket{target=\"openai/gpt-4o\",le=\"5\"} 2\n"
  "sluice_ttft_seconds_bucket{target=\"openai/gpt-4o\",le=\"10\"} 2\n"
  "sluice_ttft_seconds_bucket{target=\"openai/gpt-4o\",le=\"+Inf\"} 2\n"
  "sluice_ttft_seconds_sum{target=\"openai/gpt-4o\"} 0.25\n"
  "sluice_ttft_seconds_count{target=\"openai/gpt-4o\"} 2\n";

static void
add_known_records (SluiceMetrics *metrics)
{
  add (metrics, "{\"type\": \"attempt\", \"target\": \"openai/gpt-4o\", \"outcome\": \"ok\", \"prompt_tokens\": 2000,"
                " \"completion_tokens\": 300, \"cached_tokens\": 1500, \"reasoning_tokens\": 100,"
                " \"cache_write_tokens\": 0, \"cost_usd\": 0.006125, \"ttft_ms\": 50}");
  add (metrics, "{\"type\": \"attempt\", \"target\": \"openai/gpt-4o\", \"outcome\": \"error\","
                " \"error_kind\": \"rate_limited\", \"cost_usd\": 0}");
  add (metrics, "{\"type\": \"attempt\", \"target\": \"openai/gpt-4o\", \"outcome\": \"ok\", \"cost_usd\": 0,"
                " \"ttft_ms\": 200}");
  add (metrics, "{\"type\": \"attempt\", \"target\": \"odd \\\"name\\\"\\\\x\\nnext\", \"outcome\": \"ok\","
                " \"prompt_tokens\": 5, \"cost_usd\": null}");
  add (metrics, "{\"type\": \"request\", \"pipeline\": \"p\", \"outcome\": \"ok\", \"latency_ms\": 20, \"cache_hit\": 1}");
  add (metrics, "{\"type\": \"request\", \"pipeline\": \"p\", \"outcome\": \"ok\", \"latency_ms\": 1000, \"cache_hit\": false}");
  add (metrics, "{\"type\": \"request\", \"pipeline\": \"p\", \"outcome\": \"error\", \"error_kind\": \"timeout\","
                " \"latency_ms\": 3000, \"cache_hit\": null}");
  add (metrics, "{\"type\": \"event\", \"event\": \"breaker_open\", \"target\": \"openai/gpt-4o\"}");
}

static void
test_metrics_exposition (void)
{
  g_autoptr(SluiceMetrics) metrics = sluice_metrics_new ();
  g_autofree char *text = NULL;

  add_known_records (metrics);
  text = sluice_metrics_render (metrics);
  g_assert_cmpstr (text, ==, expected_exposition);
}

/* The metrics sink writes the file on flush; a ledger replayed gives the
 * same counts. */
static void
test_metrics_sink_and_ledger (void)
{
  g_autoptr(Files) files = files_new ();
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"sequence\": [\"server_error\"], \"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (files, url,
    "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}, "
    "retry: {max_attempts: 2, base: 1ms, jitter: none}}", NULL);
  g_autofree char *written = NULL;
  g_autofree char *replayed = NULL;
  g_autofree char *none = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"hello\"}");

      g_assert_no_error (sluice_context_get_error (context));
    }
  sluice_test_flush (pipeline);
  g_assert_true (g_file_get_contents (files->prom, &written, NULL, NULL));
  sluice_test_assert_contains (written,
    "sluice_attempts_total{target=\"openai/gpt-4o-mini\",outcome=\"error\",error_kind=\"server\"} 1\n"
    "sluice_attempts_total{target=\"openai/gpt-4o-mini\",outcome=\"ok\"} 2\n");
  sluice_test_assert_contains (written, "sluice_requests_total{pipeline=\"costs\",outcome=\"ok\"} 2\n");
  sluice_test_assert_contains (written, "sluice_request_latency_seconds_count{pipeline=\"costs\"} 2\n");

  replayed = sluice_metrics_render_ledger (files->ledger, NULL, &error);
  g_assert_no_error (error);
  sluice_test_assert_contains (replayed,
    "sluice_attempts_total{target=\"openai/gpt-4o-mini\",outcome=\"error\",error_kind=\"server\"} 1\n"
    "sluice_attempts_total{target=\"openai/gpt-4o-mini\",outcome=\"ok\"} 2\n");
  sluice_test_assert_contains (replayed, "sluice_requests_total{pipeline=\"costs\",outcome=\"ok\"} 2\n");

  /* since: a time after everything */
  none = sluice_metrics_render_ledger (files->ledger, "2999-01-01T00:00:00Z", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (none, ==, "");
  g_assert_null (sluice_metrics_render_ledger (files->ledger, "2026' OR 1=1", &error));
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT);
  g_clear_error (&error);
  g_assert_null (sluice_metrics_render_ledger ("/nonexistent/ledger.db", NULL, &error));
  sluice_test_assert_contains (error->message, "/nonexistent/ledger.db");
  sluice_test_mock_stop ();
}

/* ---- events ------------------------------------------------------------------ */

static void
test_breaker_open_event (void)
{
  g_autoptr(Files) files = files_new ();
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"match\": \"primary\", \"then\": \"server_error\"}, {\"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (files, url,
    "{targets: [{name: primary, provider: openai, model: primary, base_url: \"BASE/v1\", api_key: k}, "
    "{name: secondary, provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}], "
    "retry: {max_attempts: 1}, breaker: {failures: 2, reset: 1m}}", NULL);
  g_autoptr(JsonArray) events = NULL;
  g_autoptr(JsonNode) detail = NULL;
  g_autoptr(GPtrArray) records = NULL;
  g_autofree char *prom = NULL;
  JsonObject *event;

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"hello\"}");

      g_assert_no_error (sluice_context_get_error (context));
    }
  sluice_test_flush (pipeline);

  events = query (files->ledger, "SELECT * FROM events");
  g_assert_cmpuint (json_array_get_length (events), ==, 1);
  event = row (events, 0);
  g_assert_cmpstr (json_object_get_string_member (event, "event"), ==, "breaker_open");
  g_assert_cmpstr (json_object_get_string_member (event, "target"), ==, "primary");
  g_assert_cmpstr (json_object_get_string_member (event, "pipeline"), ==, "costs");
  g_assert_true (g_str_has_prefix (json_object_get_string_member (event, "time"), "20"));
  detail = sluice_json_from_string (json_object_get_string_member (event, "detail"), -1, NULL);
  g_assert_cmpstr (sluice_json_get_string (json_node_get_object (detail), "from"), ==, "closed");
  g_assert_cmpstr (sluice_json_get_string (json_node_get_object (detail), "key"), ==, "openai:primary");

  /* the jsonl sink has it, as it happened: after the first request's
   * records, before the second one's (whose attempt opened it); the
   * third request goes to the secondary alone */
  records = read_jsonl (files->jsonl);
  g_assert_cmpuint (records->len, ==, 9);
  for (guint i = 0; i < records->len; i++)
    {
      const char *type = sluice_json_get_string (g_ptr_array_index (records, i), "type");

      g_assert_cmpstr (type, ==, i == 3 ? "event" : i == 2 || i == 6 || i == 8 ? "request" : "attempt");
    }
  g_assert_cmpstr (sluice_json_get_string (g_ptr_array_index (records, 3), "event"), ==, "breaker_open");
  g_assert_true (g_file_get_contents (files->prom, &prom, NULL, NULL));
  sluice_test_assert_contains (prom, "sluice_events_total{event=\"breaker_open\",target=\"primary\"} 1\n");
  sluice_test_mock_stop ();
}

/* After the reset the breaker lets a probe through (half open); the probe
 * fails and it opens again. */
static void
test_breaker_half_open_event (void)
{
  g_autoptr(Files) files = files_new ();
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"match\": \"primary\", \"then\": \"server_error\"}, {\"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (files, url,
    "{targets: [{name: primary, provider: openai, model: primary, base_url: \"BASE/v1\", api_key: k}, "
    "{name: secondary, provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}], "
    "retry: {max_attempts: 1}, breaker: {failures: 1, reset: 100ms}}", NULL);
  g_autoptr(JsonArray) events = NULL;

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"hello\"}");

      g_assert_no_error (sluice_context_get_error (context));
      if (i == 0)
        g_usleep (150 * 1000);   /* past the reset */
    }
  sluice_test_flush (pipeline);

  events = query (files->ledger, "SELECT event, target FROM events ORDER BY id");
  g_assert_cmpuint (json_array_get_length (events), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (row (events, 0), "event"), ==, "breaker_open");
  g_assert_cmpstr (json_object_get_string_member (row (events, 1), "event"), ==, "breaker_half_open");
  g_assert_cmpstr (json_object_get_string_member (row (events, 2), "event"), ==, "breaker_open");
  g_assert_cmpstr (json_object_get_string_member (row (events, 2), "target"), ==, "primary");
  sluice_test_mock_stop ();
}

static void
test_budget_exceeded_event (void)
{
  g_autoptr(Files) files = files_new ();
  g_autofree char *url = sluice_test_mock_start_scenario ("{\"rules\": [{\"then\": \"ok\"}]}", NULL);
  g_autofree char *call = g_strdup_printf (
    "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k, max_tokens: 100}, "
    "budget: {daily_usd: 0.00001, ledger: \"%s\"}}", files->ledger);
  g_autoptr(SluicePipeline) pipeline = load (files, url, call, NULL);
  g_autoptr(SluiceContext) context = NULL;
  g_autoptr(JsonArray) events = NULL;
  g_autoptr(JsonArray) requests = NULL;
  JsonObject *event;

  context = sluice_test_run (pipeline, "{\"text\": \"hello\"}");
  g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED);
  sluice_test_flush (pipeline);

  events = query (files->ledger, "SELECT * FROM events");
  g_assert_cmpuint (json_array_get_length (events), ==, 1);
  event = row (events, 0);
  g_assert_cmpstr (json_object_get_string_member (event, "event"), ==, "budget_exceeded");
  g_assert_cmpstr (json_object_get_string_member (event, "target"), ==, "openai/gpt-4o-mini");
  g_assert_cmpstr (json_object_get_string_member (event, "request_id"), ==, sluice_context_get_request_id (context));
  sluice_test_assert_contains (json_object_get_string_member (event, "detail"), "daily budget of $0.00001");
  requests = query (files->ledger, "SELECT count(*) AS n FROM requests");
  g_assert_cmpint (json_object_get_int_member (row (requests, 0), "n"), ==, 1);   /* the refused one */
  sluice_test_mock_stop ();
}

/* ---- a locked ledger --------------------------------------------------------- */

static sqlite3 *
lock_ledger (const char *ledger)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open (ledger, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), ==, SQLITE_OK);
  return db;
}

static void
unlock_ledger (sqlite3 *db)
{
  g_assert_cmpint (sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
}

static void
on_flushed (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  GError **error = user_data;

  if (sluice_pipeline_flush_finish (SLUICE_PIPELINE (source), result, error))
    *error = g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_FAILED, "flushed");   /* done, no error */
}

/* Flushes; returns the flush's error, NULL when everything was written. */
static GError *
flush (SluicePipeline *pipeline)
{
  GError *error = NULL;

  sluice_pipeline_flush_async (pipeline, NULL, on_flushed, &error);
  while (error == NULL)
    g_main_context_iteration (NULL, TRUE);
  if (g_str_equal (error->message, "flushed"))
    g_clear_error (&error);
  return error;
}

static void
run_ok (SluicePipeline *pipeline,
        GPtrArray      *request_ids)
{
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"hello\"}");
  g_autoptr(JsonNode) result = sluice_context_dup_result (context);

  g_assert_no_error (sluice_context_get_error (context));
  g_assert_nonnull (result);
  g_ptr_array_add (request_ids, g_strdup (sluice_context_get_request_id (context)));
}

static gint64
count_rows (const char *ledger,
            const char *sql)
{
  g_autoptr(JsonArray) rows = query (ledger, sql);

  return json_object_get_int_member (row (rows, 0), "n");
}

static void
test_locked_then_released (void)
{
  g_autoptr(Files) files = files_new ();
  g_autofree char *url = sluice_test_mock_start_scenario ("{\"rules\": [{\"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (files, url,
    "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}}",
    ", busy_timeout_ms: 20");
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autofree char *spill = g_strconcat (files->ledger, ".unwritten.jsonl", NULL);
  g_autoptr(JsonArray) failure = NULL;
  sqlite3 *lock;

  run_ok (pipeline, ids);
  g_assert_null (flush (pipeline));

  sluice_test_clear_logs ();
  lock = lock_ledger (files->ledger);
  run_ok (pipeline, ids);
  run_ok (pipeline, ids);
  error = flush (pipeline);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED);
  sluice_test_assert_contains (error->message, "not written yet (");
  sluice_test_assert_contains (error->message, "database is locked");
  sluice_test_assert_contains (warnings_text (), "cannot write (sqlite: database is locked): records are kept in memory");
  g_assert_null (strstr (strstr (warnings_text (), "cannot write") + 1, "cannot write"));   /* reported once */
  unlock_ledger (lock);

  run_ok (pipeline, ids);
  g_assert_null (flush (pipeline));
  sluice_test_assert_contains (warnings_text (), "written again");

  g_assert_cmpint (count_rows (files->ledger, "SELECT count(*) AS n FROM requests"), ==, 4);
  g_assert_cmpint (count_rows (files->ledger, "SELECT count(*) AS n FROM attempts"), ==, 4);
  for (guint i = 0; i < ids->len; i++)
    {
      g_autofree char *sql = g_strdup_printf ("SELECT count(*) AS n FROM requests WHERE request_id = '%s' "
                                              "AND outcome = 'ok'", (char *) g_ptr_array_index (ids, i));

      g_assert_cmpint (count_rows (files->ledger, sql), ==, 1);
    }
  failure = query (files->ledger, "SELECT event, detail FROM events");
  g_assert_cmpuint (json_array_get_length (failure), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (row (failure, 0), "event"), ==, "sink_failure");
  sluice_test_assert_contains (json_object_get_string_member (row (failure, 0), "detail"), "database is locked");
  g_assert_false (g_file_test (spill, G_FILE_TEST_EXISTS));
  sluice_test_mock_stop ();
}

/* Locked before sluice opened it (no tables yet): the pipeline loads, the
 * tables and rows come once the lock goes. */
static void
test_locked_at_open (void)
{
  g_autoptr(Files) files = files_new ();
  g_autofree char *url = sluice_test_mock_start_scenario ("{\"rules\": [{\"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  sqlite3 *lock = NULL;

  g_assert_cmpint (sqlite3_open (files->ledger, &lock), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (lock, "PRAGMA journal_mode=WAL; CREATE TABLE other (x); BEGIN EXCLUSIVE",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  pipeline = load (files, url, "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}}",
                   ", busy_timeout_ms: 20");
  run_ok (pipeline, ids);
  error = flush (pipeline);
  g_assert_nonnull (error);
  unlock_ledger (lock);

  run_ok (pipeline, ids);
  g_assert_null (flush (pipeline));
  g_assert_cmpint (count_rows (files->ledger, "SELECT count(*) AS n FROM requests"), ==, 2);
  g_assert_cmpint (count_rows (files->ledger, "SELECT count(*) AS n FROM attempts"), ==, 2);
  g_assert_cmpint (count_rows (files->ledger, "SELECT count(*) AS n FROM events WHERE event = 'sink_failure'"), ==, 1);
  sluice_test_mock_stop ();
}

/* Still locked when the pipeline goes: every record lands beside the
 * ledger, none in it and none lost. */
static void
test_locked_past_exit (void)
{
  g_autoptr(Files) files = files_new ();
  g_autofree char *url = sluice_test_mock_start_scenario ("{\"rules\": [{\"then\": \"ok\"}]}", NULL);
  SluicePipeline *pipeline = load (files, url,
    "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}}",
    ", busy_timeout_ms: 20");
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *spill = g_strconcat (files->ledger, ".unwritten.jsonl", NULL);
  g_autoptr(GPtrArray) spilled = NULL;
  GError *error;
  sqlite3 *lock;
  guint requests = 0, attempts = 0, failures = 0;

  g_assert_null (flush (pipeline));   /* the ledger exists, with its tables */
  sluice_test_clear_logs ();
  lock = lock_ledger (files->ledger);
  run_ok (pipeline, ids);
  run_ok (pipeline, ids);
  run_ok (pipeline, ids);
  error = flush (pipeline);
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_object_unref (pipeline);
  unlock_ledger (lock);

  sluice_test_assert_contains (warnings_text (), "at exit: 7 records written to ");
  sluice_test_assert_contains (warnings_text (), spill);
  spilled = read_jsonl (spill);
  g_assert_cmpuint (spilled->len, ==, 7);
  for (guint i = 0; i < spilled->len; i++)
    {
      JsonObject *record = g_ptr_array_index (spilled, i);
      const char *type = sluice_json_get_string (record, "type");

      if (g_str_equal (type, "request"))
        {
          g_assert_cmpstr (sluice_json_get_string (record, "request_id"), ==, g_ptr_array_index (ids, requests));
          requests++;
        }
      else if (g_str_equal (type, "attempt"))
        attempts++;
      else if (g_str_equal (type, "event"))
        {
          g_assert_cmpstr (sluice_json_get_string (record, "event"), ==, "sink_failure");
          failures++;
        }
    }
  g_assert_cmpuint (requests, ==, 3);
  g_assert_cmpuint (attempts, ==, 3);
  g_assert_cmpuint (failures, ==, 1);
  g_assert_cmpint (count_rows (files->ledger, "SELECT count(*) AS n FROM requests"), ==, 0);
  sluice_test_mock_stop ();
}

/* `sluice run` with the ledger locked the whole time: the answer is
 * printed, the exit is 0, stderr says where the records went. */
static void
test_cli_locked_past_exit (void)
{
  g_autoptr(Files) files = files_new ();
  g_autofree char *url = sluice_test_mock_start_scenario ("{\"rules\": [{\"then\": \"ok\"}]}", NULL);
  g_autofree char *spill = g_strconcat (files->ledger, ".unwritten.jsonl", NULL);
  g_autofree char *yaml = g_strdup_printf ("name: locked\nstages:\n  - assemble: {user: \"{{text}}\"}\n"
                                           "  - call: {target: {provider: openai, model: gpt-4o-mini, "
                                           "base_url: \"%s/v1\", api_key: k}}\n"
                                           "  - log: {sinks: [{sqlite: {path: \"%s\", busy_timeout_ms: 20}}]}\n",
                                           url, files->ledger);
  g_autofree char *pipeline_path = sluice_test_write_file ("locked.yaml", yaml);
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                       G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GPtrArray) spilled = NULL;
  g_autoptr(SluicePipeline) creator = NULL;
  sqlite3 *lock;

  /* the ledger with its tables, then held */
  creator = load (files, url, "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}}",
                  NULL);
  g_assert_null (flush (creator));
  g_clear_object (&creator);
  lock = lock_ledger (files->ledger);

  process = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("SLUICE_CLI"), "run", pipeline_path,
                                         "--input", "{\"text\": \"hello\"}", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  unlock_ledger (lock);
  g_test_message ("stderr: %s", err);
  g_assert_null (strstr (err, "CRITICAL"));
  g_assert_null (strstr (err, "runtime error:"));

  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);
  /* the mock's answer, as without the lock */
  g_assert_true (g_str_has_prefix (out, "\"{\\\"sentiment\\\": "));
  sluice_test_assert_contains (err, "records are kept in memory and retried");
  sluice_test_assert_contains (err, "at exit: 3 records written to ");
  sluice_test_assert_contains (err, spill);
  spilled = read_jsonl (spill);
  g_assert_cmpuint (spilled->len, ==, 3);   /* the attempt, the request, the sink_failure event */
  g_assert_cmpint (count_rows (files->ledger, "SELECT count(*) AS n FROM requests"), ==, 0);
  sluice_test_mock_stop ();
}

/* The ledger locked and its spill file on a full disk (a link to
 * /dev/full: fopen and fprintf succeed, fclose fails): the run still
 * answers and exits 0, and the loss is said once, without a crash. */
static void
test_cli_locked_and_disk_full (void)
{
  g_autoptr(Files) files = files_new ();
  g_autofree char *url = NULL;
  g_autofree char *spill = g_strconcat (files->ledger, ".unwritten.jsonl", NULL);
  g_autofree char *yaml = NULL;
  g_autofree char *pipeline_path = NULL;
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                       G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(SluicePipeline) creator = NULL;
  const char *lost;
  sqlite3 *lock;

  if (access ("/dev/full", W_OK) != 0)
    {
      g_test_skip ("no writable /dev/full to stand for a full disk");
      return;
    }
  url = sluice_test_mock_start_scenario ("{\"rules\": [{\"then\": \"ok\"}]}", NULL);
  yaml = g_strdup_printf ("name: full\nstages:\n  - assemble: {user: \"{{text}}\"}\n"
                          "  - call: {target: {provider: openai, model: gpt-4o-mini, "
                          "base_url: \"%s/v1\", api_key: k}}\n"
                          "  - log: {sinks: [{sqlite: {path: \"%s\", busy_timeout_ms: 20}}]}\n",
                          url, files->ledger);
  pipeline_path = sluice_test_write_file ("full.yaml", yaml);
  creator = load (files, url, "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}}",
                  NULL);
  g_assert_null (flush (creator));
  g_clear_object (&creator);
  g_assert_cmpint (symlink ("/dev/full", spill), ==, 0);
  lock = lock_ledger (files->ledger);

  process = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("SLUICE_CLI"), "run", pipeline_path,
                                         "--input", "{\"text\": \"hello\"}", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  unlock_ledger (lock);
  g_test_message ("stderr: %s", err);
  g_assert_null (strstr (err, "CRITICAL"));
  g_assert_null (strstr (err, "Sanitizer"));
  g_assert_null (strstr (err, "runtime error:"));
  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);
  g_assert_true (g_str_has_prefix (out, "\"{\\\"sentiment\\\": "));
  lost = strstr (err, "cannot keep unwritten ledger records either (No space left on device); they are lost");
  g_assert_nonnull (lost);
  g_assert_null (strstr (lost + 1, "cannot keep unwritten ledger records either"));   /* once */
  sluice_test_assert_contains (err, "nor keep beside it: 3 records lost");
  g_assert_null (strstr (err, "records written to"));
  g_assert_cmpint (g_unlink (spill), ==, 0);
  sluice_test_mock_stop ();
}

/* `sluice batch` of 20 jobs with the ledger locked throughout: every job
 * answered, every record beside the ledger. */
static void
test_cli_batch_locked (void)
{
  g_autoptr(Files) files = files_new ();
  g_autofree char *url = sluice_test_mock_start_scenario ("{\"rules\": [{\"then\": \"ok\"}]}", NULL);
  g_autofree char *spill = g_strconcat (files->ledger, ".unwritten.jsonl", NULL);
  g_autofree char *yaml = g_strdup_printf ("name: locked\nstages:\n  - assemble: {user: \"{{text}}\"}\n"
                                           "  - call: {target: {provider: openai, model: gpt-4o-mini, "
                                           "base_url: \"%s/v1\", api_key: k}}\n"
                                           "  - log: {sinks: [{sqlite: {path: \"%s\", busy_timeout_ms: 20}}]}\n",
                                           url, files->ledger);
  g_autofree char *pipeline_path = sluice_test_write_file ("locked.yaml", yaml);
  g_autofree char *output = g_build_filename (files->dir, "out.jsonl", NULL);
  g_autofree char *input = NULL;
  g_autoptr(GString) lines = g_string_new (NULL);
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                       G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GPtrArray) results = NULL;
  g_autoptr(GPtrArray) spilled = NULL;
  g_autoptr(SluicePipeline) creator = NULL;
  guint requests = 0;
  sqlite3 *lock;

  for (guint i = 0; i < 20; i++)
    g_string_append_printf (lines, "{\"custom_id\": \"job-%u\", \"input\": {\"text\": \"review %u\"}}\n", i, i);
  input = sluice_test_write_file ("jobs.jsonl", lines->str);
  creator = load (files, url, "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}}",
                  NULL);
  g_assert_null (flush (creator));
  g_clear_object (&creator);
  lock = lock_ledger (files->ledger);

  process = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("SLUICE_CLI"), "batch", pipeline_path, input,
                                         "-o", output, "--concurrency", "4", "--quiet", NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  unlock_ledger (lock);
  g_test_message ("stderr: %s", err);
  g_assert_null (strstr (err, "CRITICAL"));
  g_assert_null (strstr (err, "runtime error:"));

  g_assert_true (g_subprocess_get_if_exited (process));
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);
  results = read_jsonl (output);
  g_assert_cmpuint (results->len, ==, 20);
  sluice_test_assert_contains (err, "at exit: 41 records written to ");
  spilled = read_jsonl (spill);
  g_assert_cmpuint (spilled->len, ==, 41);   /* 20 attempts, 20 requests, 1 sink_failure */
  for (guint i = 0; i < spilled->len; i++)
    requests += g_str_equal (sluice_json_get_string (g_ptr_array_index (spilled, i), "type"), "request");
  g_assert_cmpuint (requests, ==, 20);
  sluice_test_mock_stop ();
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  engine = sluice_test_provider_setup (NULL);
  g_log_set_always_fatal (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL);

  for (guint i = 0; i < G_N_ELEMENTS (cost_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/sinks/cost/%s", cost_cases[i].name);

      g_test_add_data_func (path, &cost_cases[i], test_cost);
    }
  g_test_add_func ("/sinks/jsonl/appends-without-secrets", test_jsonl_appends_without_secrets);
  g_test_add_func ("/sinks/config-checked", test_sink_config_checked);
  g_test_add_func ("/sinks/metrics/exposition", test_metrics_exposition);
  g_test_add_func ("/sinks/metrics/sink-and-ledger", test_metrics_sink_and_ledger);
  g_test_add_func ("/sinks/events/breaker-open", test_breaker_open_event);
  g_test_add_func ("/sinks/events/breaker-half-open", test_breaker_half_open_event);
  g_test_add_func ("/sinks/events/budget-exceeded", test_budget_exceeded_event);
  g_test_add_func ("/sinks/sqlite/locked-then-released", test_locked_then_released);
  g_test_add_func ("/sinks/sqlite/locked-past-exit", test_locked_past_exit);
  g_test_add_func ("/sinks/sqlite/locked-at-open", test_locked_at_open);
  g_test_add_func ("/sinks/sqlite/cli-locked-past-exit", test_cli_locked_past_exit);
  g_test_add_func ("/sinks/sqlite/cli-batch-locked", test_cli_batch_locked);
  g_test_add_func ("/sinks/sqlite/cli-locked-and-disk-full", test_cli_locked_and_disk_full);

  status = g_test_run ();
  g_object_unref (engine);
  return status;
}
