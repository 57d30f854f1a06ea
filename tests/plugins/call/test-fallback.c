/* test-fallback.c — the call stage with several targets, against the real
 * mock provider over HTTP: each fallback trigger of the chain policy,
 * circuit breakers (a skipped target costs no request), the retry budget,
 * the deadline over fallbacks, and hedging.
 *
 * The mock tells targets apart by their model name in the request body
 * (scenario rules match a substring of it).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

#include <glib/gstdio.h>
#include <string.h>

static SluiceEngine *engine;

static gint64
mock_requests (void)
{
  g_autoptr(JsonObject) stats = sluice_test_mock_stats ();

  return json_object_get_int_member (stats, "requests");
}

/* A pipeline of assemble and call; @call is the call stage's block in
 * YAML flow style, with BASE standing for the mock's base URL. */
static SluicePipeline *
load (const char *base_url,
      const char *call)
{
  g_autoptr(GString) block = g_string_new (call);
  g_autofree char *yaml = NULL;

  g_string_replace (block, "BASE", base_url, 0);
  yaml = g_strdup_printf ("name: t\n"
                          "stages:\n"
                          "  - assemble: {user: \"{{text}}\"}\n"
                          "  - call: %s\n", block->str);
  return sluice_test_load_pipeline (engine, yaml);
}

static void
on_processed (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  guint *pending = user_data;

  sluice_pipeline_process_finish (SLUICE_PIPELINE (source), result, NULL);
  (*pending)--;
}

static SluiceContext *
run (SluicePipeline *pipeline,
     gint64         *elapsed_ms)
{
  gint64 start = g_get_monotonic_time ();
  SluiceContext *context = sluice_test_run (pipeline, "{\"text\": \"hello\"}");

  if (elapsed_ms != NULL)
    *elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  return context;
}

static JsonObject *
attempt (SluiceContext *context,
         guint          index)
{
  JsonArray *attempts = sluice_context_get_attempts (context);

  g_assert_cmpuint (index, <, json_array_get_length (attempts));
  return json_array_get_object_element (attempts, index);
}

/* Asserts the attempts as "target:outcome[:kind]" joined by spaces. */
static void
assert_attempts (SluiceContext *context,
                 const char    *expected)
{
  JsonArray *attempts = sluice_context_get_attempts (context);
  g_autoptr(GString) seen = g_string_new ("");

  for (guint i = 0; i < json_array_get_length (attempts); i++)
    {
      JsonObject *record = json_array_get_object_element (attempts, i);
      const char *kind = json_object_get_string_member_with_default (record, "error_kind", NULL);

      g_string_append_printf (seen, "%s%s:%s%s%s", i > 0 ? " " : "",
                              json_object_get_string_member (record, "target"),
                              json_object_get_string_member (record, "outcome"),
                              kind != NULL ? ":" : "", kind != NULL ? kind : "");
    }
  g_assert_cmpstr (seen->str, ==, expected);
}

#define PRIMARY_DOWN \
  "{\"rules\": [{\"match\": \"primary\", \"then\": \"server_error\"}, {\"then\": \"ok\"}]}"
#define TWO_TARGETS(extra_primary) \
  "{targets: [{name: primary, provider: openai, model: primary, base_url: \"BASE/v1\", api_key: k" extra_primary "}, " \
  "{name: secondary, provider: openai, model: secondary, base_url: \"BASE/v1\", api_key: k}], "

/* ---- chain triggers ------------------------------------------------------------ */

static void
test_retries_then_falls_back (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (PRIMARY_DOWN, NULL);
  g_autoptr(SluicePipeline) pipeline = load (url, TWO_TARGETS (", max_attempts: 2")
                                                  "retry: {base: 10ms, jitter: none}}");
  g_autoptr(SluiceContext) context = run (pipeline, NULL);

  g_assert_no_error (sluice_context_get_error (context));
  assert_attempts (context, "primary:error:server primary:error:server secondary:ok");
  g_assert_cmpint (json_object_get_int_member (attempt (context, 1), "delay_ms"), ==, 10);
  g_assert_cmpint (json_object_get_int_member (attempt (context, 2), "delay_ms"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (attempt (context, 2), "target_index"), ==, 1);
  g_assert_cmpint (mock_requests (), ==, 3);
  sluice_test_mock_stop ();
}

/* A 429 moves to a healthy target at once rather than sleeping through
 * its Retry-After; with rate_limited: wait, the wait is honoured to the
 * millisecond. */
static void
test_rate_limited (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"match\": \"primary\", \"sequence\": [{\"kind\": \"rate_limit\", \"retry_after_ms\": 300}], "
    "\"then\": \"ok\"}, {\"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) next = load (url, TWO_TARGETS ("") "retry: {base: 10ms, jitter: none}}");
  g_autoptr(SluicePipeline) wait = load (url, TWO_TARGETS ("")
                                              "policy: {chain: {rate_limited: wait}}, retry: {base: 10ms, jitter: none}}");
  gint64 elapsed;

  {
    g_autoptr(SluiceContext) context = run (next, &elapsed);

    g_assert_no_error (sluice_context_get_error (context));
    assert_attempts (context, "primary:error:rate_limited secondary:ok");
    g_assert_cmpint (json_object_get_int_member (attempt (context, 0), "retry_after_ms"), ==, 300);
    g_assert_cmpint (elapsed, <, 300);
  }
  sluice_test_mock_stop ();

  g_free (url);
  url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"match\": \"primary\", \"sequence\": [{\"kind\": \"rate_limit\", \"retry_after_ms\": 300}], "
    "\"then\": \"ok\"}, {\"then\": \"ok\"}]}", NULL);
  g_clear_object (&wait);
  wait = load (url, TWO_TARGETS ("") "policy: {chain: {rate_limited: wait}}, retry: {base: 10ms, jitter: none}}");
  {
    g_autoptr(SluiceContext) context = run (wait, &elapsed);

    g_assert_no_error (sluice_context_get_error (context));
    assert_attempts (context, "primary:error:rate_limited primary:ok");
    g_assert_cmpint (json_object_get_int_member (attempt (context, 1), "delay_ms"), ==, 300);
    g_assert_cmpint (elapsed, >=, 300);
    g_assert_cmpint (elapsed, <, 1300);
  }
  sluice_test_mock_stop ();
}

/* context_overflow goes to the next target with a larger window: the
 * one with the same model is passed over. */
static void
test_context_overflow (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"match\": \"gpt-3.5-turbo\", \"then\": {\"kind\": \"status\", \"status\": 400, "
    "\"body\": \"{\\\"error\\\": {\\\"message\\\": \\\"This model's maximum context length is 16385 tokens.\\\", "
    "\\\"type\\\": \\\"invalid_request_error\\\", \\\"code\\\": \\\"context_length_exceeded\\\"}}\"}}, "
    "{\"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (url,
    "{targets: [{name: small, provider: openai, model: gpt-3.5-turbo, base_url: \"BASE/v1\", api_key: k}, "
    "{name: small-again, provider: openai, model: gpt-3.5-turbo, base_url: \"BASE/v1\", api_key: k}, "
    "{name: large, provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}]}");
  g_autoptr(SluiceContext) context = run (pipeline, NULL);

  g_assert_no_error (sluice_context_get_error (context));
  assert_attempts (context, "small:error:context_overflow large:ok");
  g_assert_cmpint (mock_requests (), ==, 2);
  sluice_test_mock_stop ();
}

/* content_filter goes to another provider: the next target of the same
 * provider is passed over. */
static void
test_content_filter (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"match\": \"gpt-4o-mini\", \"then\": {\"kind\": \"status\", \"status\": 400, "
    "\"body\": \"{\\\"error\\\": {\\\"message\\\": \\\"filtered\\\", \\\"type\\\": \\\"invalid_request_error\\\", "
    "\\\"code\\\": \\\"content_filter\\\"}}\"}}, {\"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (url,
    "{targets: [{name: mini, provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}, "
    "{name: big, provider: openai, model: gpt-4o, base_url: \"BASE/v1\", api_key: k}, "
    "{name: claude, provider: anthropic, model: claude-haiku-4-5, base_url: \"BASE/v1\", api_key: k}]}");
  g_autoptr(SluiceContext) context = run (pipeline, NULL);

  g_assert_no_error (sluice_context_get_error (context));
  assert_attempts (context, "mini:error:content_filter claude:ok");
  g_assert_cmpint (mock_requests (), ==, 2);
  sluice_test_mock_stop ();
}

/* bad_request is not a reason to fall back: the request itself is wrong. */
static void
test_bad_request_does_not_fall_back (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"match\": \"primary\", \"then\": {\"kind\": \"status\", \"status\": 400, "
    "\"body\": \"{\\\"error\\\": {\\\"message\\\": \\\"bad\\\", \\\"type\\\": \\\"invalid_request_error\\\"}}\"}}, "
    "{\"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (url, TWO_TARGETS ("") "retry: {base: 10ms}}");
  g_autoptr(SluiceContext) context = run (pipeline, NULL);

  g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_BAD_REQUEST);
  assert_attempts (context, "primary:error:bad_request");
  sluice_test_mock_stop ();
}

/* ---- breakers ------------------------------------------------------------------------ */

static void
test_breaker_skips_without_network (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (PRIMARY_DOWN, NULL);
  g_autoptr(SluicePipeline) pipeline = load (url, TWO_TARGETS (", max_attempts: 1")
                                                  "breaker: {failures: 2, reset: 1m}}");

  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(SluiceContext) context = run (pipeline, NULL);

      assert_attempts (context, "primary:error:server secondary:ok");
    }
  g_assert_cmpint (mock_requests (), ==, 4);

  /* Open now: the policy passes the primary over, and the mock hears
   * one request per request. */
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(SluiceContext) context = run (pipeline, NULL);

      g_assert_no_error (sluice_context_get_error (context));
      assert_attempts (context, "secondary:ok");
    }
  g_assert_cmpint (mock_requests (), ==, 7);
  sluice_test_mock_stop ();
}

/* With every breaker open the request fails at once with circuit_open;
 * after the reset one probe goes through and closes it. */
static void
test_breaker_open_then_probe (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"sequence\": [\"overloaded\"], \"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (url,
    "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}, "
    "retry: {max_attempts: 1}, breaker: {failures: 1, reset: 300ms}}");
  gint64 elapsed;

  {
    g_autoptr(SluiceContext) context = run (pipeline, NULL);

    g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_OVERLOADED);
  }
  {
    g_autoptr(SluiceContext) context = run (pipeline, &elapsed);

    g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_CIRCUIT_OPEN);
    assert_attempts (context, "openai/gpt-4o-mini:skipped:circuit_open");
    g_assert_cmpint (elapsed, <, 250);
  }
  g_assert_cmpint (mock_requests (), ==, 1);

  g_usleep (350 * 1000);
  {
    g_autoptr(SluiceContext) context = run (pipeline, NULL);

    g_assert_no_error (sluice_context_get_error (context));
    assert_attempts (context, "openai/gpt-4o-mini:ok");
  }
  {
    g_autoptr(SluiceContext) context = run (pipeline, NULL);

    g_assert_no_error (sluice_context_get_error (context));
  }
  g_assert_cmpint (mock_requests (), ==, 3);
  sluice_test_mock_stop ();
}

/* Two targets serving one model from two base URLs (mirrors) get a
 * breaker each by default: the dead mirror's open breaker leaves the
 * live one serving. */
static void
test_breaker_mirrors_apart (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario ("{\"rules\": [{\"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (url,
    "{targets: [{name: dead, provider: openai, model: m, base_url: \"http://127.0.0.1:1/v1\", api_key: k, max_attempts: 1}, "
    "{name: live, provider: openai, model: m, base_url: \"BASE/v1\", api_key: k}], "
    "breaker: {failures: 1, reset: 1m}}");

  {
    g_autoptr(SluiceContext) context = run (pipeline, NULL);

    g_assert_no_error (sluice_context_get_error (context));
    assert_attempts (context, "dead:error:network live:ok");
  }
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(SluiceContext) context = run (pipeline, NULL);

      g_assert_no_error (sluice_context_get_error (context));
      assert_attempts (context, "live:ok");
    }
  g_assert_cmpint (mock_requests (), ==, 3);
  sluice_test_mock_stop ();
}

/* A 400 says nothing about the provider's health: it does not open it. */
static void
test_breaker_ignores_bad_requests (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"then\": {\"kind\": \"status\", \"status\": 400, "
    "\"body\": \"{\\\"error\\\": {\\\"message\\\": \\\"bad\\\", \\\"type\\\": \\\"invalid_request_error\\\"}}\"}}]}",
    NULL);
  g_autoptr(SluicePipeline) pipeline = load (url,
    "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}, "
    "breaker: {failures: 1, reset: 1m}}");

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(SluiceContext) context = run (pipeline, NULL);

      g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_BAD_REQUEST);
    }
  g_assert_cmpint (mock_requests (), ==, 3);
  sluice_test_mock_stop ();
}

/* ---- retry budget and deadline ----------------------------------------------------------- */

static void
test_budget_attempts (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario ("{\"rules\": [{\"then\": \"server_error\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (url, TWO_TARGETS ("")
                                                  "retry: {max_attempts: 3, base: 1ms, budget: {attempts: 4}}}");
  g_autoptr(SluiceContext) context = run (pipeline, NULL);
  const GError *error = sluice_context_get_error (context);

  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_SERVER);
  sluice_test_assert_contains (error->message, "after 4 attempts: ");
  sluice_test_assert_contains (error->message, "(not retried: the retry budget of 4 attempts is spent)");
  assert_attempts (context, "primary:error:server primary:error:server primary:error:server secondary:error:server");
  g_assert_cmpint (mock_requests (), ==, 4);
  sluice_test_mock_stop ();
}

static void
test_budget_wait (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario ("{\"rules\": [{\"then\": \"server_error\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (url,
    "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}, "
    "retry: {max_attempts: 5, base: 100ms, jitter: none, budget: {wait: 250ms}}}");
  g_autoptr(SluiceContext) context = run (pipeline, NULL);
  const GError *error = sluice_context_get_error (context);

  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_SERVER);
  sluice_test_assert_contains (error->message, "a 200 ms wait would pass the retry budget's 250ms of waiting");
  g_assert_cmpint (mock_requests (), ==, 2);
  sluice_test_mock_stop ();
}

/* Tokens paid for an answer that was not kept count against the budget:
 * a 200 whose answer the provider filtered is billed and wasted. */
static void
test_budget_wasted_tokens (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"match\": \"primary\", \"then\": {\"kind\": \"status\", \"status\": 200, \"body\": "
    "\"{\\\"id\\\": \\\"c1\\\", \\\"object\\\": \\\"chat.completion\\\", \\\"model\\\": \\\"primary\\\", "
    "\\\"choices\\\": [{\\\"index\\\": 0, \\\"message\\\": {\\\"role\\\": \\\"assistant\\\", \\\"content\\\": \\\"\\\"}, "
    "\\\"finish_reason\\\": \\\"content_filter\\\"}], \\\"usage\\\": {\\\"prompt_tokens\\\": 900, "
    "\\\"completion_tokens\\\": 100, \\\"total_tokens\\\": 1000}}\"}}, {\"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) spend = load (url,
    "{targets: [{name: primary, provider: openai, model: primary, base_url: \"BASE/v1\", api_key: k}, "
    "{name: claude, provider: anthropic, model: claude-haiku-4-5, base_url: \"BASE/v1\", api_key: k}], "
    "retry: {budget: {wasted_tokens: 999}}}");
  g_autoptr(SluicePipeline) allow = load (url,
    "{targets: [{name: primary, provider: openai, model: primary, base_url: \"BASE/v1\", api_key: k}, "
    "{name: claude, provider: anthropic, model: claude-haiku-4-5, base_url: \"BASE/v1\", api_key: k}], "
    "retry: {budget: {wasted_tokens: 1000}}}");

  {
    g_autoptr(SluiceContext) context = run (spend, NULL);
    const GError *error = sluice_context_get_error (context);

    g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_CONTENT_FILTER);
    sluice_test_assert_contains (error->message, "1000 tokens already wasted, more than the retry budget's 999");
    g_assert_true (json_object_get_boolean_member (attempt (context, 0), "wasted"));
  }
  {
    g_autoptr(SluiceContext) context = run (allow, NULL);

    g_assert_no_error (sluice_context_get_error (context));
    assert_attempts (context, "primary:error:content_filter claude:ok");
    g_assert_false (json_object_get_boolean_member (attempt (context, 1), "wasted"));
  }
  sluice_test_mock_stop ();
}

/* The deadline covers the fallback: with 200 ms left, no attempt that
 * needs 300 ms is started. */
static void
test_deadline_covers_fallback (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"match\": \"primary\", \"then\": {\"kind\": \"hang\", \"duration\": \"5s\"}}, "
    "{\"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (url, TWO_TARGETS ("") "timeout: 300ms, deadline: 500ms}");
  gint64 elapsed;
  g_autoptr(SluiceContext) context = run (pipeline, &elapsed);
  const GError *error = sluice_context_get_error (context);

  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_TIMEOUT);
  sluice_test_assert_contains (error->message, "no answer within 300ms (not retried: ");
  sluice_test_assert_contains (error->message, " ms left before the deadline)");
  assert_attempts (context, "primary:error:timeout");
  g_assert_cmpint (elapsed, >=, 300);
  g_assert_cmpint (elapsed, <, 500);
  sluice_test_mock_stop ();
}

/* ---- spending caps ------------------------------------------------------------------------- */

static SluiceContext *
run_as (SluicePipeline *pipeline,
        const char     *user)
{
  g_autoptr(JsonNode) input = json_from_string ("{\"text\": \"hello\"}", NULL);
  SluiceContext *context = sluice_context_new (input);

  sluice_context_set_label (context, "user", user);
  sluice_test_run_context (pipeline, context);
  return context;
}

/* Each answer costs 100 prompt and 100 completion tokens of gpt-4o-mini:
 * $0.000075. Each attempt is estimated at its prompt plus max_tokens
 * (100): a little over $0.00006. With a cap of $0.0001 a user gets one
 * answer a day; the second request is refused before any request is
 * sent, and so it is after a restart, from the ledger. */
static void
test_budget_caps (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"then\": {\"kind\": \"ok\", \"usage\": {\"prompt_tokens\": 100, \"completion_tokens\": 100}}}]}",
    NULL);
  g_autofree char *ledger = sluice_test_write_file ("ledger.db", "");
  g_autofree char *block = NULL;
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(SluicePipeline) restarted = NULL;

  g_assert_cmpint (g_unlink (ledger), ==, 0);   /* a ledger that does not exist yet: nothing spent */
  block = g_strdup_printf ("{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k, "
                           "max_tokens: 100}, budget: {daily_usd: 0.0001, per: [\"label:user\"], ledger: \"%s\"}}\n"
                           "  - log: {sinks: [{sqlite: {path: \"%s\"}}]}", ledger, ledger);
  pipeline = load (url, block);

  {
    g_autoptr(SluiceContext) first = run_as (pipeline, "alice");
    g_autoptr(SluiceContext) second = run_as (pipeline, "alice");
    g_autoptr(SluiceContext) other = run_as (pipeline, "bob");
    const GError *error = sluice_context_get_error (second);

    g_assert_no_error (sluice_context_get_error (first));
    g_assert_cmpfloat_with_epsilon (sluice_context_get_cost (first), 0.000075, 1e-12);
    g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED);
    g_assert_true (g_str_has_prefix (error->message,
                                     "daily budget of $0.0001 for user 'alice' would be passed: $0.000075 spent, "
                                     "this request up to $0.00006"));
    g_assert_cmpuint (json_array_get_length (sluice_context_get_attempts (second)), ==, 0);
    g_assert_no_error (sluice_context_get_error (other));
    g_assert_cmpint (mock_requests (), ==, 2);
  }
  sluice_test_flush (pipeline);
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonArray) rows = sluice_db_query (ledger, "SELECT target, target_index, wasted, outcome FROM attempts "
                                                         "ORDER BY id", &error);
    JsonObject *row;

    g_assert_no_error (error);
    g_assert_cmpuint (json_array_get_length (rows), ==, 2);   /* the refused request made no attempt */
    row = json_array_get_object_element (rows, 0);
    g_assert_cmpstr (json_object_get_string_member (row, "target"), ==, "openai/gpt-4o-mini");
    g_assert_cmpint (json_object_get_int_member (row, "target_index"), ==, 0);
    g_assert_cmpint (json_object_get_int_member (row, "wasted"), ==, 0);
    g_assert_cmpstr (json_object_get_string_member (row, "outcome"), ==, "ok");
  }

  /* A new process reads the day's spending from the ledger. */
  restarted = load (url, block);
  {
    g_autoptr(SluiceContext) alice = run_as (restarted, "alice");
    g_autoptr(SluiceContext) bob = run_as (restarted, "bob");
    g_autoptr(SluiceContext) carol = run_as (restarted, "carol");

    g_assert_error (sluice_context_get_error (alice), SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED);
    g_assert_error (sluice_context_get_error (bob), SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED);
    g_assert_no_error (sluice_context_get_error (carol));
    g_assert_cmpint (mock_requests (), ==, 3);
  }
  sluice_test_mock_stop ();
}

/* Two requests in flight at once cannot both pass the cap: the first
 * one's reservation counts before it is answered. */
static void
test_budget_concurrent (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"then\": {\"kind\": \"ok\", \"latency\": \"200ms\", "
    "\"usage\": {\"prompt_tokens\": 100, \"completion_tokens\": 100}}}]}", NULL);
  g_autofree char *ledger = sluice_test_write_file ("ledger.db", "");
  g_autofree char *block = g_strdup_printf (
    "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k, max_tokens: 100}, "
    "budget: {daily_usd: 0.0001, per: [overall], ledger: \"%s\"}}", ledger);
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(JsonNode) input = json_from_string ("{\"text\": \"hello\"}", NULL);
  g_autoptr(SluiceContext) a = sluice_context_new (input);
  g_autoptr(SluiceContext) b = sluice_context_new (input);
  guint pending = 2;

  g_assert_cmpint (g_unlink (ledger), ==, 0);
  pipeline = load (url, block);
  sluice_pipeline_process_async (pipeline, a, NULL, on_processed, &pending);
  sluice_pipeline_process_async (pipeline, b, NULL, on_processed, &pending);
  while (pending > 0)
    g_main_context_iteration (NULL, TRUE);

  g_assert_no_error (sluice_context_get_error (a));
  g_assert_error (sluice_context_get_error (b), SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED);
  g_assert_cmpint (mock_requests (), ==, 1);
  sluice_test_mock_stop ();
}

/* ---- phases of an attempt ------------------------------------------------------------------ */

/* A listener whose one-place backlog is taken: the next connection
 * attempt is never answered. Returns its port; the sockets are kept in
 * @keep. */
static guint16
start_full_listener (GPtrArray *keep)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  GSocket *listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  GSocket *filler;

  g_assert_no_error (error);
  g_ptr_array_add (keep, listener);
  g_socket_set_listen_backlog (listener, 0);
  g_assert_true (g_socket_bind (listener, any, TRUE, &error));
  g_assert_true (g_socket_listen (listener, &error));
  bound = g_socket_get_local_address (listener, &error);
  g_assert_no_error (error);

  filler = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_ptr_array_add (keep, filler);
  g_assert_true (g_socket_connect (filler, bound, NULL, &error));
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
test_connect_timeout (void)
{
  g_autoptr(GPtrArray) keep = g_ptr_array_new_with_free_func (g_object_unref);
  guint16 port = start_full_listener (keep);
  g_autofree char *url = g_strdup_printf ("http://127.0.0.1:%u", port);
  g_autoptr(SluicePipeline) pipeline = load (url,
    "{target: {provider: openai, model: gpt-4o-mini, base_url: \"BASE/v1\", api_key: k}, "
    "connect_timeout: 200ms, timeout: 5s, retry: {max_attempts: 1}}");
  gint64 elapsed;
  g_autoptr(SluiceContext) context = run (pipeline, &elapsed);
  const GError *error = sluice_context_get_error (context);

  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_TIMEOUT);
  g_assert_cmpstr (error->message, ==, "request to 127.0.0.1 timed out: no connection within 200 ms");
  g_assert_cmpint (elapsed, >=, 200);
  g_assert_cmpint (elapsed, <, 1500);
}

/* The first byte is awaited for first_byte_timeout; once it came, the
 * idle timeout takes over between chunks. */
static void
test_first_byte_timeout (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"match\": \"hangs\", \"then\": {\"kind\": \"hang\", \"duration\": \"5s\"}}, "
    "{\"then\": \"stall\"}]}", NULL);
  gint64 elapsed;

  {
    g_autoptr(SluicePipeline) pipeline = load (url,
      "{target: {provider: openai, model: hangs, base_url: \"BASE/v1\", api_key: k}, "
      "first_byte_timeout: 200ms, timeout: 5s, retry: {max_attempts: 1}}");
    g_autoptr(SluiceContext) context = run (pipeline, &elapsed);
    const GError *error = sluice_context_get_error (context);

    g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_TIMEOUT);
    g_assert_cmpstr (error->message, ==, "request to 127.0.0.1 timed out: no first byte within 200 ms");
    g_assert_cmpint (elapsed, >=, 200);
    g_assert_cmpint (elapsed, <, 1500);
  }
  {
    g_autoptr(SluicePipeline) pipeline = load (url,
      "{target: {provider: openai, model: stalls, base_url: \"BASE/v1\", api_key: k}, stream: true, "
      "first_byte_timeout: 200ms, idle_timeout: 400ms, timeout: 5s, retry: {max_attempts: 1}}");
    g_autoptr(SluiceContext) context = run (pipeline, &elapsed);
    const GError *error = sluice_context_get_error (context);

    g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_TIMEOUT);
    sluice_test_assert_contains (error->message, "no data for 400 ms");
    g_assert_cmpint (elapsed, >=, 400);
    g_assert_cmpint (elapsed, <, 1500);
  }
  sluice_test_mock_stop ();
}

/* ---- hedging ----------------------------------------------------------------------------- */

static void
test_hedge_cancels_the_loser (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"match\": \"primary\", \"then\": {\"kind\": \"hang\", \"duration\": \"5s\"}}, "
    "{\"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (url, TWO_TARGETS ("") "timeout: 4s, hedge: {after: 100ms}}");
  gint64 elapsed;
  g_autoptr(SluiceContext) context = run (pipeline, &elapsed);
  g_autoptr(JsonObject) stats = NULL;
  JsonObject *loser;

  g_assert_no_error (sluice_context_get_error (context));
  assert_attempts (context, "secondary:ok primary:cancelled:cancelled");
  g_assert_true (json_object_get_boolean_member (attempt (context, 0), "hedge"));
  g_assert_cmpint (elapsed, >=, 100);
  g_assert_cmpint (elapsed, <, 1000);

  /* The loser's prompt is counted, estimated, and wasted. */
  loser = attempt (context, 1);
  g_assert_cmpint (json_object_get_int_member (loser, "prompt_tokens"), >, 0);
  g_assert_true (json_object_get_boolean_member (loser, "usage_estimated"));
  g_assert_true (json_object_get_boolean_member (loser, "wasted"));
  g_assert_cmpint (json_object_get_int_member (loser, "latency_ms"), >=, 100);

  /* (The mock cannot see a client go away during a hang, so that the
   * loser's connection is closed is not asserted here.) */
  stats = sluice_test_mock_stats ();
  g_assert_cmpint (json_object_get_int_member (stats, "requests"), ==, 2);
  sluice_test_mock_stop ();
}

/* Without enough answers to know the target's p95, nothing is hedged. */
static void
test_hedge_waits_for_samples (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario ("{\"rules\": [{\"then\": \"ok\"}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = load (url, TWO_TARGETS ("") "hedge: {after: p95, min_samples: 20}}");

  for (guint i = 0; i < 5; i++)
    {
      g_autoptr(SluiceContext) context = run (pipeline, NULL);

      assert_attempts (context, "primary:ok");
    }
  g_assert_cmpint (mock_requests (), ==, 5);
  sluice_test_mock_stop ();
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  engine = sluice_test_provider_setup (NULL);

  g_test_add_func ("/fallback/retries-then-falls-back", test_retries_then_falls_back);
  g_test_add_func ("/fallback/rate-limited", test_rate_limited);
  g_test_add_func ("/fallback/context-overflow", test_context_overflow);
  g_test_add_func ("/fallback/content-filter", test_content_filter);
  g_test_add_func ("/fallback/bad-request", test_bad_request_does_not_fall_back);
  g_test_add_func ("/breaker/skips-without-network", test_breaker_skips_without_network);
  g_test_add_func ("/breaker/open-then-probe", test_breaker_open_then_probe);
  g_test_add_func ("/breaker/mirrors-apart", test_breaker_mirrors_apart);
  g_test_add_func ("/breaker/ignores-bad-requests", test_breaker_ignores_bad_requests);
  g_test_add_func ("/budget/attempts", test_budget_attempts);
  g_test_add_func ("/budget/wait", test_budget_wait);
  g_test_add_func ("/budget/wasted-tokens", test_budget_wasted_tokens);
  g_test_add_func ("/deadline/covers-fallback", test_deadline_covers_fallback);
  g_test_add_func ("/budget/caps", test_budget_caps);
  g_test_add_func ("/budget/concurrent", test_budget_concurrent);
  g_test_add_func ("/phase/connect-timeout", test_connect_timeout);
  g_test_add_func ("/phase/first-byte-timeout", test_first_byte_timeout);
  g_test_add_func ("/hedge/cancels-the-loser", test_hedge_cancels_the_loser);
  g_test_add_func ("/hedge/waits-for-samples", test_hedge_waits_for_samples);

  {
    int status = g_test_run ();

    g_object_unref (engine);
    return status;
  }
}
