/* test-call.c — the call stage against the real mock provider over HTTP:
 * attempts, timeouts, backoff, Retry-After, deadline, cancellation, cost,
 * and that the key never shows.
 *
 * Most tests are a one-stage harness: a pipeline holding only the call
 * stage is loaded (so its block goes through the schema and configure),
 * then the stage is driven directly with a context whose messages are set.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

#include <string.h>

/* Distinctive, so that any leak of it is found by a plain substring search. */
#define TEST_KEY "sk-sluice-test-K3y9Zq7Wm2Xv8Rt4"
#define TEST_KEY_MASKED "sk-slu**************************Rt4"

static SluiceEngine *engine;

/* ---- harness ------------------------------------------------------------- */

static char *
start_mock (const char *scenario)
{
  if (scenario == NULL)
    return sluice_test_mock_start ("--seed", "1", NULL);
  return sluice_test_mock_start_scenario (scenario, NULL);
}

static gint64
mock_requests (void)
{
  g_autoptr(JsonObject) stats = sluice_test_mock_stats ();

  return json_object_get_int_member (stats, "requests");
}

/* A pipeline of one call stage; rest is the rest of its block (after the
 * target), in YAML flow style. */
static char *
call_pipeline_yaml (const char *base_url,
                    const char *target_extra,
                    const char *rest)
{
  return g_strdup_printf ("name: t\n"
                          "stages:\n"
                          "  - call: {target: {provider: openai, model: gpt-4o-mini,\n"
                          "            base_url: \"%s/v1\", api_key: \"${SLUICE_TEST_KEY}\"%s%s},\n"
                          "           %s}\n",
                          base_url, target_extra != NULL ? ", " : "",
                          target_extra != NULL ? target_extra : "", rest);
}

static SluicePipeline *
load_call (const char *base_url,
           const char *target_extra,
           const char *rest)
{
  g_autofree char *yaml = call_pipeline_yaml (base_url, target_extra, rest);
  SluicePipeline *pipeline = sluice_test_load_pipeline (engine, yaml);

  g_assert_cmpuint (sluice_pipeline_get_n_stages (pipeline), ==, 1);
  g_assert_cmpstr (sluice_pipeline_get_stage_name (pipeline, 0), ==, "call");
  return pipeline;
}

/* The error of a pipeline that must not load. */
static GError *
load_error (const char *yaml)
{
  g_autofree char *path = sluice_test_write_file ("pipeline.yaml", yaml);
  g_autoptr(SluicePipeline) pipeline = NULL;
  GError *error = NULL;

  pipeline = sluice_pipeline_new_from_file (engine, path, &error);
  g_assert_null (pipeline);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_PIPELINE);
  return error;
}

static SluiceContext *
new_context (const char *user_text)
{
  return sluice_test_context_new ("system", "You classify sentiment.", "user", user_text, NULL);
}

typedef struct
{
  gboolean       done;
  SluiceVerdict  verdict;
  GError        *error;
  gint64         finished_ms;
} Outcome;

static void
on_processed (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Outcome *outcome = user_data;

  outcome->verdict = sluice_stage_process_finish (SLUICE_STAGE (source), result, &outcome->error);
  outcome->finished_ms = sluice_monotonic_ms ();
  outcome->done = TRUE;
}

static void
wait_for (Outcome *outcome)
{
  while (!outcome->done)
    g_main_context_iteration (NULL, TRUE);
}

/* Drives the pipeline's one stage; returns the milliseconds it took. */
static gint64
run_stage (SluicePipeline *pipeline,
           SluiceContext  *context,
           GCancellable   *cancellable,
           Outcome        *outcome)
{
  gint64 start = sluice_monotonic_ms ();

  sluice_stage_process_async (sluice_pipeline_get_stage (pipeline, 0), context, cancellable,
                              on_processed, outcome);
  wait_for (outcome);
  return outcome->finished_ms - start;
}

static void
outcome_clear (Outcome *outcome)
{
  g_clear_error (&outcome->error);
}

static JsonObject *
attempt (SluiceContext *context,
         guint          index)
{
  JsonArray *attempts = sluice_context_get_attempts (context);

  g_assert_cmpuint (index, <, json_array_get_length (attempts));
  return json_array_get_object_element (attempts, index);
}

static guint
n_attempts (SluiceContext *context)
{
  return json_array_get_length (sluice_context_get_attempts (context));
}

static void
assert_attempt_failed (JsonObject *a,
                       guint       index,
                       const char *kind,
                       gint64      http_status)
{
  g_assert_cmpint (json_object_get_int_member (a, "index"), ==, index);
  g_assert_cmpstr (json_object_get_string_member (a, "outcome"), ==, "error");
  g_assert_cmpstr (json_object_get_string_member (a, "error_kind"), ==, kind);
  g_assert_nonnull (json_object_get_string_member (a, "error_message"));
  g_assert_cmpstr (json_object_get_string_member (a, "provider"), ==, "openai");
  g_assert_cmpstr (json_object_get_string_member (a, "model"), ==, "gpt-4o-mini");
  g_assert_true (g_str_has_suffix (json_object_get_string_member (a, "started_at"), "Z"));
  if (http_status > 0)
    g_assert_cmpint (json_object_get_int_member (a, "http_status"), ==, http_status);
  else
    g_assert_false (json_object_has_member (a, "http_status"));
  /* An attempt that failed with no usage was not billed. */
  g_assert_cmpfloat (json_object_get_double_member (a, "cost_usd"), ==, 0.0);
  g_assert_cmpint (json_object_get_int_member (a, "latency_ms"), >=, 0);
}

/* ---- success after a rate limit ----------------------------------------------- */

static void
test_rate_limit_then_ok (void)
{
  g_autofree char *url = start_mock (
    "{\"rules\": [{\"sequence\": ["
    "  {\"kind\": \"rate_limit\", \"retry_after\": \"1\"},"
    "  {\"kind\": \"ok\", \"content\": \"{\\\"sentiment\\\":\\\"positive\\\"}\","
    "   \"usage\": {\"prompt_tokens\": 1200, \"completion_tokens\": 300}}]}]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "timeout: 5s, retry: {max_attempts: 3, base: 10ms, cap: 50ms, jitter: none}");
  g_autoptr(SluiceContext) context = new_context ("I love it");
  Outcome outcome = { 0 };
  gint64 elapsed = run_stage (pipeline, context, NULL, &outcome);
  /* gpt-4o-mini: $0.15 input and $0.60 output per million tokens */
  const gdouble expected_cost = (1200 * 0.15 + 300 * 0.60) / 1e6;
  SluiceResponse *response;
  JsonObject *a0, *a1, *target;

  g_assert_no_error (outcome.error);
  g_assert_cmpint (outcome.verdict, ==, SLUICE_VERDICT_CONTINUE);
  g_assert_cmpint (mock_requests (), ==, 2);
  g_assert_cmpuint (n_attempts (context), ==, 2);

  a0 = attempt (context, 0);
  assert_attempt_failed (a0, 0, "rate_limited", 429);
  g_assert_cmpint (json_object_get_int_member (a0, "retry_after_ms"), ==, 1000);
  g_assert_cmpint (json_object_get_int_member (a0, "delay_ms"), ==, 0);
  g_assert_cmpstr (json_object_get_string_member (a0, "provider_request_id"), ==, "req_mock_1");

  a1 = attempt (context, 1);
  g_assert_cmpint (json_object_get_int_member (a1, "index"), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (a1, "outcome"), ==, "ok");
  g_assert_false (json_object_has_member (a1, "error_kind"));
  g_assert_cmpint (json_object_get_int_member (a1, "http_status"), ==, 200);
  /* Retry-After: 1 is honoured although the cap is 50 ms. */
  g_assert_cmpint (json_object_get_int_member (a1, "delay_ms"), >=, 1000);
  g_assert_cmpint (json_object_get_int_member (a1, "delay_ms"), <, 1500);
  g_assert_cmpint (elapsed, >=, 1000);
  g_assert_cmpint (json_object_get_int_member (a1, "prompt_tokens"), ==, 1200);
  g_assert_cmpint (json_object_get_int_member (a1, "completion_tokens"), ==, 300);
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (a1, "cost_usd"), expected_cost, 1e-12);
  g_assert_cmpfloat_with_epsilon (sluice_context_get_cost (context), expected_cost, 1e-12);
  g_assert_cmpint (sluice_context_get_prompt_tokens (context), ==, 1200);
  g_assert_cmpstr (json_object_get_string_member (a1, "provider_request_id"), ==, "req_mock_2");

  response = sluice_context_get_response (context);
  g_assert_nonnull (response);
  g_assert_cmpstr (sluice_response_get_text (response), ==, "{\"sentiment\":\"positive\"}");
  g_assert_cmpstr (sluice_response_get_finish_reason (response), ==, "stop");
  g_assert_cmpstr (sluice_response_get_model (response), ==, "gpt-4o-mini");

  /* The context shows the target, but not its key. */
  target = sluice_context_get_target (context);
  g_assert_cmpstr (sluice_json_get_string (target, "provider"), ==, "openai");
  g_assert_cmpstr (sluice_json_get_string (target, "model"), ==, "gpt-4o-mini");
  g_assert_false (json_object_has_member (target, "api_key"));

  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

static void
test_retry_after_ms (void)
{
  g_autofree char *url = start_mock (
    "{\"rules\": [{\"sequence\": [{\"kind\": \"rate_limit\", \"retry_after_ms\": 250}], \"then\": \"ok\"}]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "retry: {max_attempts: 2, base: 10ms, cap: 20ms, jitter: none}");
  g_autoptr(SluiceContext) context = new_context ("fine");
  Outcome outcome = { 0 };
  gint64 elapsed = run_stage (pipeline, context, NULL, &outcome);

  g_assert_no_error (outcome.error);
  g_assert_cmpint (mock_requests (), ==, 2);
  g_assert_cmpuint (n_attempts (context), ==, 2);
  g_assert_cmpint (json_object_get_int_member (attempt (context, 0), "retry_after_ms"), ==, 250);
  g_assert_cmpint (json_object_get_int_member (attempt (context, 1), "delay_ms"), ==, 250);
  g_assert_cmpint (elapsed, >=, 250);
  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

static void
test_retry_after_http_date (void)
{
  g_autoptr(GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr(GDateTime) then = g_date_time_add_seconds (now, 2);
  g_autofree char *date = soup_date_time_to_string (then, SOUP_DATE_HTTP);
  g_autofree char *scenario = g_strdup_printf (
    "{\"rules\": [{\"sequence\": [{\"kind\": \"rate_limit\", \"retry_after\": \"%s\"}], \"then\": \"ok\"}]}",
    date);
  g_autofree char *url = start_mock (scenario);
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "retry: {max_attempts: 2, base: 10ms, cap: 20ms, jitter: none}");
  g_autoptr(SluiceContext) context = new_context ("fine");
  Outcome outcome = { 0 };
  gint64 elapsed = run_stage (pipeline, context, NULL, &outcome);
  gint64 retry_after;

  g_assert_no_error (outcome.error);
  g_assert_cmpint (mock_requests (), ==, 2);
  /* The date has whole seconds: 2 s ahead is between 1 and 2 s away. */
  retry_after = json_object_get_int_member (attempt (context, 0), "retry_after_ms");
  g_assert_cmpint (retry_after, >=, 900);
  g_assert_cmpint (retry_after, <=, 2000);
  g_assert_cmpint (json_object_get_int_member (attempt (context, 1), "delay_ms"), ==, retry_after);
  g_assert_cmpint (elapsed, >=, retry_after);
  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

/* A Retry-After no one means (1e9 s, or 10^7 s: four months) is still a
 * wait longer than max_retry_after (default 2m): the request fails at
 * once, not after retries that ignore it. */
static void
test_retry_after_absurd (void)
{
  static const struct { const char *marker; const char *header; gint64 retry_after_ms; } cases[] = {
    /* over a year: counted as a year */
    { "<case:1e9>", "1e9", G_GINT64_CONSTANT (365) * 24 * 3600 * 1000 },
    { "<case:1e7>", "10000000", G_GINT64_CONSTANT (10000000000) },
  };
  g_autofree char *url = start_mock (
    "{\"rules\": ["
    " {\"match\": \"<case:1e9>\", \"then\": {\"kind\": \"status\", \"status\": 429,"
    "   \"headers\": {\"Retry-After\": \"1e9\"}}},"
    " {\"match\": \"<case:1e7>\", \"then\": {\"kind\": \"status\", \"status\": 429,"
    "   \"headers\": {\"Retry-After\": \"10000000\"}}}"
    "]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "retry: {max_attempts: 3, base: 10ms, cap: 20ms, jitter: none}");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SluiceContext) context = new_context (cases[i].marker);
      gint64 before = mock_requests ();
      Outcome outcome = { 0 };
      gint64 elapsed = run_stage (pipeline, context, NULL, &outcome);

      g_test_message ("Retry-After: %s", cases[i].header);
      g_assert_cmpint (outcome.verdict, ==, SLUICE_VERDICT_FAIL);
      g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_RATE_LIMITED);
      g_assert_false (g_str_has_prefix (outcome.error->message, "after "));
      g_assert_cmpint (mock_requests () - before, ==, 1);
      g_assert_cmpuint (n_attempts (context), ==, 1);
      assert_attempt_failed (attempt (context, 0), 0, "rate_limited", 429);
      g_assert_cmpint (json_object_get_int_member (attempt (context, 0), "retry_after_ms"), ==,
                       cases[i].retry_after_ms);
      g_assert_cmpint (elapsed, <, 300);
      outcome_clear (&outcome);
    }
  sluice_test_mock_stop ();
}

/* ---- what is not retried ------------------------------------------------------ */

static void
test_no_retry_on_client_errors (void)
{
  static const struct {
    const char *marker;
    guint       status;
    SluiceErrorCode code;
    const char *kind;
  } cases[] = {
    { "<case:400>", 400, SLUICE_ERROR_BAD_REQUEST, "bad_request" },
    { "<case:401>", 401, SLUICE_ERROR_AUTH, "auth" },
    { "<case:403>", 403, SLUICE_ERROR_AUTH, "auth" },
    { "<case:404>", 404, SLUICE_ERROR_NOT_FOUND, "not_found" },
    { "<case:overflow>", 400, SLUICE_ERROR_CONTEXT_OVERFLOW, "context_overflow" },
    { "<case:quota>", 429, SLUICE_ERROR_BUDGET_EXCEEDED, "budget_exceeded" },
  };
  g_autofree char *url = start_mock (
    "{\"rules\": ["
    " {\"match\": \"<case:400>\", \"then\": {\"kind\": \"status\", \"status\": 400}},"
    " {\"match\": \"<case:401>\", \"then\": {\"kind\": \"status\", \"status\": 401}},"
    " {\"match\": \"<case:403>\", \"then\": {\"kind\": \"status\", \"status\": 403}},"
    " {\"match\": \"<case:404>\", \"then\": {\"kind\": \"status\", \"status\": 404}},"
    " {\"match\": \"<case:overflow>\", \"then\": {\"kind\": \"status\", \"status\": 400,"
    "   \"body\": \"{\\\"error\\\": {\\\"message\\\": \\\"This model's maximum context length is 4097 tokens.\\\","
    "              \\\"type\\\": \\\"invalid_request_error\\\", \\\"code\\\": \\\"context_length_exceeded\\\"}}\"}},"
    " {\"match\": \"<case:quota>\", \"then\": {\"kind\": \"status\", \"status\": 429,"
    "   \"headers\": {\"Retry-After\": \"1\"},"
    "   \"body\": \"{\\\"error\\\": {\\\"message\\\": \\\"You exceeded your current quota.\\\","
    "              \\\"type\\\": \\\"insufficient_quota\\\", \\\"code\\\": \\\"insufficient_quota\\\"}}\"}}"
    "]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "retry: {max_attempts: 4, base: 10ms, cap: 20ms}");

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(SluiceContext) context = new_context (cases[i].marker);
      gint64 before = mock_requests ();
      Outcome outcome = { 0 };
      gint64 elapsed = run_stage (pipeline, context, NULL, &outcome);

      g_test_message ("%s", cases[i].marker);
      g_assert_cmpint (outcome.verdict, ==, SLUICE_VERDICT_FAIL);
      g_assert_error (outcome.error, SLUICE_ERROR, (gint) cases[i].code);
      /* One attempt: no "after N attempts" prefix. */
      g_assert_false (g_str_has_prefix (outcome.error->message, "after "));
      g_assert_cmpint (mock_requests () - before, ==, 1);
      g_assert_cmpuint (n_attempts (context), ==, 1);
      assert_attempt_failed (attempt (context, 0), 0, cases[i].kind, cases[i].status);
      g_assert_null (sluice_context_get_response (context));
      g_assert_cmpint (elapsed, <, 900);   /* the quota case's Retry-After is not waited for */
      outcome_clear (&outcome);
    }
  sluice_test_mock_stop ();
}

static void
test_no_messages (void)
{
  g_autofree char *url = start_mock (NULL);
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL, "retry: {max_attempts: 3, base: 10ms}");
  g_autoptr(SluiceContext) context = sluice_context_new (NULL);
  Outcome outcome = { 0 };

  run_stage (pipeline, context, NULL, &outcome);
  g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_BAD_REQUEST);
  g_assert_cmpstr (outcome.error->message, ==, "no messages to send: add an assemble stage");
  g_assert_cmpuint (n_attempts (context), ==, 1);
  g_assert_cmpint (mock_requests (), ==, 0);
  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

/* ---- retried failures ---------------------------------------------------------------- */

static void
test_hang_times_out (void)
{
  g_autofree char *url = start_mock ("{\"rules\": [{\"then\": {\"kind\": \"hang\", \"duration\": \"20s\"}}]}");
  /* The target's timeout (300ms) wins over the stage's (10s). */
  g_autoptr(SluicePipeline) pipeline = load_call (url, "timeout: 300ms",
    "timeout: 10s, retry: {max_attempts: 2, base: 10ms, cap: 10ms, jitter: none}");
  g_autoptr(SluiceContext) context = new_context ("hello?");
  Outcome outcome = { 0 };
  gint64 elapsed = run_stage (pipeline, context, NULL, &outcome);

  g_assert_cmpint (outcome.verdict, ==, SLUICE_VERDICT_FAIL);
  g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_TIMEOUT);
  g_assert_cmpstr (outcome.error->message, ==, "after 2 attempts: no answer within 300ms");
  g_assert_cmpint (mock_requests (), ==, 2);
  g_assert_cmpuint (n_attempts (context), ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      JsonObject *a = attempt (context, i);

      assert_attempt_failed (a, i, "timeout", 0);
      g_assert_cmpstr (json_object_get_string_member (a, "error_message"), ==, "no answer within 300ms");
      g_assert_cmpint (json_object_get_int_member (a, "latency_ms"), >=, 300);
      g_assert_cmpint (json_object_get_int_member (a, "latency_ms"), <, 700);
    }
  g_assert_cmpint (json_object_get_int_member (attempt (context, 1), "delay_ms"), ==, 10);
  g_assert_cmpint (elapsed, >=, 610);
  g_assert_cmpint (elapsed, <, 1200);
  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

/* ---- broken streams are retried, for every wire format ----------------------------------- */

static SluicePipeline *
load_streaming (const char *url,
                const char *provider,
                const char *model,
                const char *base_path)
{
  g_autofree char *yaml = g_strdup_printf (
    "name: t\n"
    "stages:\n"
    "  - call: {target: {provider: %s, model: %s, base_url: \"%s%s\", api_key: \"${SLUICE_TEST_KEY}\"},\n"
    "           stream: true, idle_timeout: 200ms, timeout: 5s,\n"
    "           retry: {max_attempts: 4, base: 10ms, cap: 10ms, jitter: none}}\n",
    provider, model, url, base_path);

  return sluice_test_load_pipeline (engine, yaml);
}

/* structured_output: native gives each provider the pipeline's output
 * schema in its own form (for Anthropic a forced tool call, whose input
 * is the answer); the answer comes back as JSON text, streamed or not. */
static void
test_native_structured_output (void)
{
  static const struct { const char *provider, *model, *base_path; } formats[] = {
    { "openai", "gpt-4o-mini", "/v1" },
    { "anthropic", "claude-sonnet-4-5", "/v1" },
    { "gemini", "gemini-2.0-flash", "/v1beta" },
    { "openai-compatible", "llama3.2", "/v1" },
  };
  g_autofree char *url = start_mock (NULL);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    for (guint streamed = 0; streamed <= 1; streamed++)
      {
        g_autofree char *yaml = g_strdup_printf (
          "name: t\n"
          "output: {type: object, required: [sentiment], additionalProperties: false,\n"
          "         properties: {sentiment: {enum: [positive, negative, neutral]}}}\n"
          "stages:\n"
          "  - call: {target: {provider: %s, model: %s, base_url: \"%s%s\", api_key: \"${SLUICE_TEST_KEY}\"},\n"
          "           structured_output: native, stream: %s}\n",
          formats[i].provider, formats[i].model, url, formats[i].base_path, streamed ? "true" : "false");
        g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
        g_autoptr(SluiceContext) context = new_context ("I love it");
        g_autoptr(JsonNode) answer = NULL;
        SluiceResponse *response;
        Outcome outcome = { 0 };

        g_test_message ("%s, stream: %u", formats[i].provider, streamed);
        run_stage (pipeline, context, NULL, &outcome);
        g_assert_no_error (outcome.error);
        response = sluice_context_get_response (context);
        g_assert_cmpstr (sluice_response_get_finish_reason (response), ==, "stop");
        /* Anthropic's forced answer tool stays a call, its input the text. */
        if (g_str_equal (formats[i].provider, "anthropic"))
          {
            JsonArray *calls = sluice_response_get_tool_calls (response);

            g_assert_cmpuint (json_array_get_length (calls), ==, 1);
            g_assert_cmpstr (sluice_json_get_string (json_array_get_object_element (calls, 0), "arguments"), ==,
                             sluice_response_get_text (response));
          }
        else
          g_assert_null (sluice_response_get_tool_calls (response));
        g_assert_true (sluice_response_get_streamed (response) == (gboolean) streamed);
        answer = sluice_json_from_string (sluice_response_get_text (response), -1, &error);
        g_assert_no_error (error);
        g_assert_cmpstr (sluice_json_get_string (json_node_get_object (answer), "sentiment"), ==, "positive");
        outcome_clear (&outcome);
      }
  sluice_test_mock_stop ();

  /* Without an output schema there is nothing to ask for. */
  error = load_error ("name: t\n"
                      "stages:\n"
                      "  - call: {target: {provider: openai, model: m, api_key: k}, structured_output: native}\n");
  sluice_test_assert_contains (error->message, "structured_output: native needs the pipeline's output schema");
  g_clear_error (&error);

  /* What the provider would refuse is refused before anything is sent. */
  error = load_error ("name: t\n"
                      "output: {type: object, properties: {a: {type: string, minLength: 1}}}\n"
                      "stages:\n"
                      "  - call: {target: {provider: openai, model: m, api_key: k}, structured_output: native}\n");
  sluice_test_assert_contains (error->message, "structured_output: native: OpenAI's strict mode refuses this schema");
  g_clear_error (&error);
  error = load_error ("name: t\n"
                      "output: {type: array, items: {type: string}}\n"
                      "stages:\n"
                      "  - call: {target: {provider: anthropic, model: m, api_key: k}, structured_output: native}\n");
  sluice_test_assert_contains (error->message, "Anthropic's forced tool call needs an object at the schema's root");
  g_clear_error (&error);
  error = load_error ("name: t\n"
                      "output: {type: object, anyOf: [{required: [a]}, {required: [b]}]}\n"
                      "stages:\n"
                      "  - call: {target: {provider: anthropic, model: m, api_key: k}, structured_output: native}\n");
  sluice_test_assert_contains (error->message, "without anyOf, oneOf or allOf there");
  g_clear_error (&error);
  error = load_error ("name: t\n"
                      "output: {type: object}\n"
                      "stages:\n"
                      "  - call: {target: {provider: anthropic, model: m, api_key: k,\n"
                      "                    tools: [{name: search, input_schema: {type: object}}]},\n"
                      "           structured_output: native}\n");
  sluice_test_assert_contains (error->message, "would replace the target's own tools");
  g_clear_error (&error);
  /* typed, but an array without items and an untyped property */
  error = load_error ("name: t\n"
                      "output: {type: object, additionalProperties: false, required: [a, b],\n"
                      "         properties: {a: {type: array}, b: {}}}\n"
                      "stages:\n"
                      "  - call: {target: {provider: openai, model: m, api_key: k}, structured_output: native}\n");
  sluice_test_assert_contains (error->message, "OpenAI's strict mode refuses this schema");
}

static void
test_broken_streams_are_retried (void)
{
  static const struct { const char *provider, *model, *base_path; } formats[] = {
    { "openai", "gpt-4o-mini", "/v1" },
    { "anthropic", "claude-sonnet-4-5", "/v1" },
    { "gemini", "gemini-2.0-flash", "/v1beta" },
    { "openai-compatible", "llama3.2", "/v1" },
  };
  /* A cut stream, a malformed chunk and a stall after the first events,
   * then a whole answer: three failed attempts, one good one. */
  static const char scenario[] = "{\"rules\": [{\"match\": \"stream\", "
                                 "\"sequence\": [\"cut\", \"malformed_chunk\", \"stall\"], "
                                 "\"then\": \"ok\"}]}";

  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_autofree char *url = start_mock (scenario);
      g_autoptr(SluicePipeline) pipeline = load_streaming (url, formats[i].provider, formats[i].model,
                                                           formats[i].base_path);
      g_autoptr(SluiceContext) context = new_context ("stream me: I love it");
      static const char * const kinds[] = { "truncated", "malformed", "timeout" };
      Outcome outcome = { 0 };
      gint64 elapsed;

      g_test_message ("%s", formats[i].provider);
      elapsed = run_stage (pipeline, context, NULL, &outcome);

      g_assert_no_error (outcome.error);
      g_assert_cmpint (outcome.verdict, ==, SLUICE_VERDICT_CONTINUE);
      g_assert_nonnull (strstr (sluice_response_get_text (sluice_context_get_response (context)), "positive"));
      g_assert_cmpuint (n_attempts (context), ==, 4);
      for (guint a = 0; a < 3; a++)
        {
          g_assert_cmpstr (json_object_get_string_member (attempt (context, a), "error_kind"), ==, kinds[a]);
          g_assert_true (json_object_get_boolean_member (attempt (context, a), "retryable"));
          g_assert_true (json_object_get_boolean_member (attempt (context, a), "streamed"));
        }
      g_assert_cmpstr (json_object_get_string_member (attempt (context, 3), "outcome"), ==, "ok");
      g_assert_true (json_object_get_boolean_member (attempt (context, 3), "streamed"));
      g_assert_cmpfloat (json_object_get_double_member (attempt (context, 3), "ttft_ms"), >=, 0);
      /* The stall is cut by the idle timeout (200ms), not the attempt's 5s. */
      g_assert_cmpint (json_object_get_int_member (attempt (context, 2), "latency_ms"), <, 1500);
      g_assert_cmpint (elapsed, <, 3000);
      outcome_clear (&outcome);
      sluice_test_mock_stop ();
    }
}

static void
test_malformed_json_is_retried (void)
{
  g_autofree char *url = start_mock ("{\"rules\": [{\"then\": \"malformed\"}]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "retry: {max_attempts: 3, base: 10ms, cap: 20ms, jitter: none}");
  g_autoptr(SluiceContext) context = new_context ("garbled");
  Outcome outcome = { 0 };

  run_stage (pipeline, context, NULL, &outcome);
  g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_MALFORMED);
  g_assert_true (g_str_has_prefix (outcome.error->message,
                                   "after 3 attempts: an "
                                   "unparseable body from 127.0.0.1 (application/json, "));
  g_assert_cmpint (mock_requests (), ==, 3);
  g_assert_cmpuint (n_attempts (context), ==, 3);
  for (guint i = 0; i < 3; i++)
    assert_attempt_failed (attempt (context, i), i, "malformed", 200);
  g_assert_cmpint (json_object_get_int_member (attempt (context, 1), "delay_ms"), ==, 10);
  g_assert_cmpint (json_object_get_int_member (attempt (context, 2), "delay_ms"), ==, 20);
  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

static const char whole_answer[] =
  "{\"id\":\"chatcmpl-whole\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini\","
  "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"whole\"},"
  "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":1}}";

/* The first answer promises more body than it sends, then hangs up; the
 * next ones are whole. @user_data counts the requests. */
static void
cut_handler (SoupServer        *server,
             SoupServerMessage *msg,
             const char        *path,
             GHashTable        *query,
             gpointer           user_data)
{
  guint *requests = user_data;
  static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 500\r\n\r\n{\"id\":\"chatcmpl-cut\",";
  g_autoptr(GIOStream) stream = NULL;

  if ((*requests)++ > 0)
    {
      soup_server_message_set_status (msg, 200, NULL);
      soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_STATIC,
                                        whole_answer, strlen (whole_answer));
      return;
    }
  /* Promise 500 bytes, send 20, hang up. */
  stream = soup_server_message_steal_connection (msg);
  g_output_stream_write_all (g_io_stream_get_output_stream (stream), head, strlen (head), NULL, NULL, NULL);
  g_io_stream_close (stream, NULL, NULL);
}

/* A 200 whose JSON body is cut short is a malformed answer (not a network
 * failure: the server did answer), and worth another attempt. */
static void
test_cut_body_is_retried (void)
{
  guint requests = 0;
  g_autofree char *url = NULL;
  g_autoptr(SoupServer) server = sluice_test_server_new (cut_handler, &requests, "", &url);
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "retry: {max_attempts: 3, base: 10ms, cap: 20ms, jitter: none}");
  g_autoptr(SluiceContext) context = new_context ("cut me");
  Outcome outcome = { 0 };
  JsonObject *a0;

  run_stage (pipeline, context, NULL, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_cmpint (outcome.verdict, ==, SLUICE_VERDICT_CONTINUE);
  g_assert_cmpuint (requests, ==, 2);
  g_assert_cmpuint (n_attempts (context), ==, 2);
  a0 = attempt (context, 0);
  assert_attempt_failed (a0, 0, "malformed", 200);
  g_assert_true (json_object_get_boolean_member (a0, "retryable"));
  g_assert_true (g_str_has_prefix (json_object_get_string_member (a0, "error_message"),
                                   "the body from 127.0.0.1 was cut short: "));
  g_assert_cmpstr (json_object_get_string_member (attempt (context, 1), "outcome"), ==, "ok");
  g_assert_cmpint (json_object_get_int_member (attempt (context, 1), "delay_ms"), ==, 10);
  g_assert_cmpstr (sluice_response_get_text (sluice_context_get_response (context)), ==, "whole");
  outcome_clear (&outcome);
}

static void
test_html_body_is_malformed (void)
{
  g_autofree char *url = start_mock (
    "{\"rules\": [{\"then\": {\"kind\": \"status\", \"status\": 200, \"content_type\": \"text/html\","
    " \"body\": \"<html><head><title>Captive portal</title></head><body>Log in first</body></html>\"}}]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "retry: {max_attempts: 2, base: 10ms, cap: 20ms, jitter: none}");
  g_autoptr(SluiceContext) context = new_context ("portal");
  Outcome outcome = { 0 };

  run_stage (pipeline, context, NULL, &outcome);
  g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_MALFORMED);
  g_assert_true (g_str_has_prefix (outcome.error->message,
                                   "after 2 attempts: an "
                                   "unparseable body from 127.0.0.1 (text/html, 80 bytes): \"<html><head><title>Captive portal</title>"));
  g_assert_cmpint (mock_requests (), ==, 2);
  g_assert_cmpuint (n_attempts (context), ==, 2);
  assert_attempt_failed (attempt (context, 1), 1, "malformed", 200);
  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

static void
test_server_errors_then_ok (void)
{
  g_autofree char *url = start_mock (
    "{\"rules\": [{\"sequence\": [\"server_error\", \"overloaded\", \"html\"], \"then\": "
    " {\"kind\": \"ok\", \"content\": \"finally\", \"usage\": {\"prompt_tokens\": 10, \"completion_tokens\": 2}}}]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "retry: {max_attempts: 4, base: 10ms, cap: 15ms, jitter: none}");
  g_autoptr(SluiceContext) context = new_context ("again");
  Outcome outcome = { 0 };

  run_stage (pipeline, context, NULL, &outcome);
  g_assert_no_error (outcome.error);
  g_assert_cmpint (mock_requests (), ==, 4);
  g_assert_cmpuint (n_attempts (context), ==, 4);
  assert_attempt_failed (attempt (context, 0), 0, "server", 500);
  assert_attempt_failed (attempt (context, 1), 1, "overloaded", 503);
  assert_attempt_failed (attempt (context, 2), 2, "server", 502);
  g_assert_cmpstr (json_object_get_string_member (attempt (context, 2), "error_message"), ==,
                   "HTTP 502: an error from 127.0.0.1 (text/html)");
  g_assert_cmpstr (json_object_get_string_member (attempt (context, 3), "outcome"), ==, "ok");
  /* min(cap, base * 2^n): 10, then 15, 15 */
  g_assert_cmpint (json_object_get_int_member (attempt (context, 1), "delay_ms"), ==, 10);
  g_assert_cmpint (json_object_get_int_member (attempt (context, 2), "delay_ms"), ==, 15);
  g_assert_cmpint (json_object_get_int_member (attempt (context, 3), "delay_ms"), ==, 15);
  g_assert_cmpstr (sluice_response_get_text (sluice_context_get_response (context)), ==, "finally");
  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

static void
test_full_jitter_bounds (void)
{
  g_autofree char *url = start_mock ("{\"rules\": [{\"then\": \"server_error\"}]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "retry: {max_attempts: 5, base: 20ms, cap: 30ms, jitter: full}");
  gint64 sum = 0;

  /* Several requests, so that a jitter that always waits the full bound
   * (or nothing) would show. */
  for (guint r = 0; r < 4; r++)
    {
      g_autoptr(SluiceContext) context = new_context ("jitter");
      Outcome outcome = { 0 };

      run_stage (pipeline, context, NULL, &outcome);
      g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_SERVER);
      g_assert_true (g_str_has_prefix (outcome.error->message, "after 5 attempts: HTTP 500: "));
      g_assert_cmpuint (n_attempts (context), ==, 5);
      for (guint i = 1; i < 5; i++)
        {
          gint64 delay = json_object_get_int_member (attempt (context, i), "delay_ms");

          g_assert_cmpint (delay, >=, 0);
          g_assert_cmpint (delay, <=, i == 1 ? 20 : 30);
          sum += delay;
        }
      outcome_clear (&outcome);
    }
  g_assert_cmpint (mock_requests (), ==, 20);
  /* 16 draws with bounds summing to 440 ms: all-zero or all-maximal is
   * not what a uniform draw gives. */
  g_assert_cmpint (sum, >, 0);
  g_assert_cmpint (sum, <, 440);
  sluice_test_mock_stop ();
}

static void
test_network_error (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(SluiceContext) context = new_context ("anyone?");
  Outcome outcome = { 0 };

  /* A port that was free a moment ago and now has no listener. */
  g_socket_bind (socket, any, TRUE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  url = g_strdup_printf ("http://127.0.0.1:%u",
                         g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));
  g_socket_close (socket, NULL);

  pipeline = load_call (url, NULL, "retry: {max_attempts: 2, base: 10ms, jitter: none}");
  run_stage (pipeline, context, NULL, &outcome);
  g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_NETWORK);
  g_assert_true (g_str_has_prefix (outcome.error->message, "after 2 attempts: request to 127.0.0.1 failed: "));
  g_assert_cmpuint (n_attempts (context), ==, 2);
  assert_attempt_failed (attempt (context, 0), 0, "network", 0);
  assert_attempt_failed (attempt (context, 1), 1, "network", 0);
  outcome_clear (&outcome);
}

/* ---- deadline ------------------------------------------------------------------------ */

static void
test_deadline_cuts_the_attempt (void)
{
  g_autofree char *url = start_mock ("{\"rules\": [{\"then\": {\"kind\": \"hang\", \"duration\": \"20s\"}}]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "timeout: 5s, deadline: 400ms, retry: {max_attempts: 3, base: 10ms}");
  g_autoptr(SluiceContext) context = new_context ("slow");
  Outcome outcome = { 0 };
  gint64 elapsed = run_stage (pipeline, context, NULL, &outcome);

  g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_TIMEOUT);
  g_assert_cmpstr (outcome.error->message, ==, "no answer before the deadline of 400ms");
  g_assert_cmpuint (n_attempts (context), ==, 1);
  g_assert_cmpint (mock_requests (), ==, 1);
  g_assert_cmpint (elapsed, >=, 400);
  g_assert_cmpint (elapsed, <, 900);
  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

static void
test_deadline_refuses_a_long_wait (void)
{
  g_autofree char *url = start_mock (
    "{\"rules\": [{\"sequence\": [{\"kind\": \"rate_limit\", \"retry_after\": \"1\"}], \"then\": \"ok\"}]}");
  /* Retry-After 1 s + the shortest attempt (the 300 ms timeout) do not fit 700 ms. */
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "timeout: 300ms, deadline: 700ms, retry: {max_attempts: 3, base: 10ms, cap: 50ms}");
  g_autoptr(SluiceContext) context = new_context ("hurry");
  Outcome outcome = { 0 };
  gint64 elapsed = run_stage (pipeline, context, NULL, &outcome);

  g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_RATE_LIMITED);
  g_assert_cmpuint (n_attempts (context), ==, 1);
  g_assert_cmpint (mock_requests (), ==, 1);
  g_assert_cmpint (elapsed, <, 400);
  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

/* ---- cancellation ---------------------------------------------------------------------- */

static gboolean
set_true (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until the monotonic clock reaches deadline_ms. */
static void
spin_until (gint64 deadline_ms)
{
  gboolean reached = FALSE;

  g_timeout_add ((guint) MAX (deadline_ms - sluice_monotonic_ms (), 0), set_true, &reached);
  while (!reached)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
cancel_later (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_cancel_while_waiting (void)
{
  g_autofree char *url = start_mock (
    "{\"rules\": [{\"sequence\": [{\"kind\": \"rate_limit\", \"retry_after\": \"1\"}], \"then\": \"ok\"}]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "retry: {max_attempts: 3, base: 10ms, cap: 50ms}");
  g_autoptr(SluiceContext) context = new_context ("stop");
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Outcome outcome = { 0 };
  gint64 start = sluice_monotonic_ms ();
  gint64 elapsed;

  g_timeout_add (200, cancel_later, cancellable);
  elapsed = run_stage (pipeline, context, cancellable, &outcome);

  g_assert_cmpint (outcome.verdict, ==, SLUICE_VERDICT_FAIL);
  g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_CANCELLED);
  g_assert_cmpint (elapsed, >=, 200);
  g_assert_cmpint (elapsed, <, 600);   /* not the 1 s wait */
  g_assert_cmpuint (n_attempts (context), ==, 1);

  /* Nothing is sent once the wait would have ended either. */
  spin_until (start + 1300);
  g_assert_cmpint (mock_requests (), ==, 1);
  g_assert_cmpuint (n_attempts (context), ==, 1);
  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

static void
test_cancel_in_flight (void)
{
  g_autofree char *url = start_mock ("{\"rules\": [{\"then\": {\"kind\": \"hang\", \"duration\": \"20s\"}}]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "timeout: 10s, retry: {max_attempts: 3, base: 10ms}");
  g_autoptr(SluiceContext) context = new_context ("never mind");
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Outcome outcome = { 0 };
  gint64 elapsed;

  g_timeout_add (200, cancel_later, cancellable);
  elapsed = run_stage (pipeline, context, cancellable, &outcome);

  g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_CANCELLED);
  g_assert_cmpstr (outcome.error->message, ==, "the request was cancelled");
  g_assert_cmpint (elapsed, <, 600);
  g_assert_cmpuint (n_attempts (context), ==, 1);
  assert_attempt_failed (attempt (context, 0), 0, "cancelled", 0);
  g_assert_cmpint (mock_requests (), ==, 1);
  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

static void
test_cancelled_before_start (void)
{
  g_autofree char *url = start_mock (NULL);
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL, "retry: {max_attempts: 3}");
  g_autoptr(SluiceContext) context = new_context ("too late");
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Outcome outcome = { 0 };

  g_cancellable_cancel (cancellable);
  run_stage (pipeline, context, cancellable, &outcome);
  g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_CANCELLED);
  g_assert_cmpuint (n_attempts (context), ==, 0);
  g_assert_cmpint (mock_requests (), ==, 0);
  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

/* ---- one stage, many requests ------------------------------------------------------------- */

static void
test_concurrent_requests (void)
{
  g_autofree char *url = start_mock (
    "{\"rules\": ["
    " {\"match\": \"<case:A>\", \"sequence\": [{\"kind\": \"rate_limit\", \"retry_after_ms\": 300}],"
    "  \"then\": {\"kind\": \"ok\", \"content\": \"answer A\"}},"
    " {\"match\": \"<case:B>\", \"sequence\": [\"server_error\"],"
    "  \"then\": {\"kind\": \"ok\", \"content\": \"answer B\"}}]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "retry: {max_attempts: 3, base: 10ms, cap: 20ms, jitter: none}");
  g_autoptr(SluiceContext) a = new_context ("<case:A>");
  g_autoptr(SluiceContext) b = new_context ("<case:B>");
  SluiceStage *stage = sluice_pipeline_get_stage (pipeline, 0);
  Outcome outcome_a = { 0 }, outcome_b = { 0 };

  sluice_stage_process_async (stage, a, NULL, on_processed, &outcome_a);
  sluice_stage_process_async (stage, b, NULL, on_processed, &outcome_b);
  wait_for (&outcome_a);
  wait_for (&outcome_b);

  g_assert_no_error (outcome_a.error);
  g_assert_no_error (outcome_b.error);
  g_assert_cmpstr (sluice_response_get_text (sluice_context_get_response (a)), ==, "answer A");
  g_assert_cmpstr (sluice_response_get_text (sluice_context_get_response (b)), ==, "answer B");
  g_assert_cmpuint (n_attempts (a), ==, 2);
  g_assert_cmpuint (n_attempts (b), ==, 2);
  assert_attempt_failed (attempt (a, 0), 0, "rate_limited", 429);
  assert_attempt_failed (attempt (b, 0), 0, "server", 500);
  g_assert_cmpint (json_object_get_int_member (attempt (a, 1), "delay_ms"), ==, 300);
  g_assert_cmpint (json_object_get_int_member (attempt (b, 1), "delay_ms"), ==, 10);
  /* B's short backoff was not held up by A's long wait. */
  g_assert_cmpint (outcome_b.finished_ms, <, outcome_a.finished_ms);
  g_assert_cmpint (mock_requests (), ==, 4);
  outcome_clear (&outcome_a);
  outcome_clear (&outcome_b);
  sluice_test_mock_stop ();
}

/* ---- cost ------------------------------------------------------------------------------- */

static void
test_unknown_price_is_null (void)
{
  g_autofree char *url = start_mock (
    "{\"rules\": [{\"then\": {\"kind\": \"ok\", \"content\": \"hi\","
    " \"usage\": {\"prompt_tokens\": 5, \"completion_tokens\": 1}}}]}");
  g_autofree char *yaml = g_strdup_printf (
    "name: t\n"
    "stages:\n"
    "  - call: {target: {provider: openai, model: sluice-unpriced-model, base_url: \"%s\","
    " api_key: \"${SLUICE_TEST_KEY}\"}}\n", url);
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
  g_autoptr(SluiceContext) context = new_context ("price?");
  Outcome outcome = { 0 };
  JsonNode *cost;

  run_stage (pipeline, context, NULL, &outcome);
  g_assert_no_error (outcome.error);
  cost = json_object_get_member (attempt (context, 0), "cost_usd");
  g_assert_nonnull (cost);
  g_assert_true (JSON_NODE_HOLDS_NULL (cost));
  g_assert_cmpint (json_object_get_int_member (attempt (context, 0), "prompt_tokens"), ==, 5);
  g_assert_cmpfloat (sluice_context_get_cost (context), <, 0);
  outcome_clear (&outcome);
  sluice_test_mock_stop ();
}

/* ---- the whole pipeline --------------------------------------------------------------------- */

static void
test_pipeline_with_assemble (void)
{
  g_autofree char *url = start_mock (
    "{\"rules\": [{\"match\": \"great product\", \"sequence\": [\"overloaded\"],"
    "  \"then\": {\"kind\": \"ok\", \"content\": \"{\\\"sentiment\\\": \\\"positive\\\"}\"}}]}");
  g_autofree char *yaml = g_strdup_printf (
    "name: sentiment\n"
    "stages:\n"
    "  - assemble: {system: Answer in JSON., user: \"{{text}}\"}\n"
    "  - call:\n"
    "      target: {provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\",\n"
    "               api_key: \"${SLUICE_TEST_KEY}\", temperature: 0}\n"
    "      timeout: 5s\n"
    "      retry: {max_attempts: 2, base: 10ms, jitter: none}\n", url);
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"a great product\"}");

  g_assert_null (sluice_context_get_error (context));
  g_assert_cmpuint (n_attempts (context), ==, 2);
  assert_attempt_failed (attempt (context, 0), 0, "overloaded", 503);
  g_assert_cmpstr (sluice_response_get_text (sluice_context_get_response (context)), ==,
                   "{\"sentiment\": \"positive\"}");
  g_assert_true (json_object_has_member (sluice_context_get_timings (context), "call"));
  g_assert_cmpint (mock_requests (), ==, 2);
  sluice_test_mock_stop ();
}

/* A re-run (the validate stage's correction) calls the stage again on the
 * same context: attempt numbers go on, the retry budget starts afresh. */
static void
test_attempt_index_continues_on_rerun (void)
{
  g_autofree char *url = start_mock (
    "{\"rules\": [{\"sequence\": [\"server_error\", \"ok\", \"server_error\", \"server_error\"], \"then\": \"ok\"}]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "retry: {max_attempts: 2, base: 10ms, jitter: none}");
  g_autoptr(SluiceContext) context = new_context ("twice");
  Outcome first = { 0 }, second = { 0 };

  run_stage (pipeline, context, NULL, &first);
  g_assert_no_error (first.error);
  run_stage (pipeline, context, NULL, &second);
  g_assert_error (second.error, SLUICE_ERROR, SLUICE_ERROR_SERVER);
  g_assert_true (g_str_has_prefix (second.error->message, "after 2 attempts: "));

  g_assert_cmpuint (n_attempts (context), ==, 4);
  for (guint i = 0; i < 4; i++)
    g_assert_cmpint (json_object_get_int_member (attempt (context, i), "index"), ==, i);
  g_assert_cmpstr (json_object_get_string_member (attempt (context, 1), "outcome"), ==, "ok");
  g_assert_cmpint (json_object_get_int_member (attempt (context, 2), "delay_ms"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (attempt (context, 3), "delay_ms"), ==, 10);
  g_assert_cmpint (mock_requests (), ==, 4);
  outcome_clear (&first);
  outcome_clear (&second);
  sluice_test_mock_stop ();
}

/* ---- configuration -------------------------------------------------------------------------- */

static void
test_missing_key (void)
{
  static const char * const targets[] = {
    "{provider: openai, model: gpt-4o-mini, api_key: \"${SLUICE_TEST_EMPTY_KEY}\"}",
    "{provider: openai, model: gpt-4o-mini}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (targets); i++)
    {
      g_autofree char *yaml = g_strdup_printf ("name: t\nstages:\n  - call: {target: %s}\n", targets[i]);
      g_autoptr(GError) error = load_error (yaml);

      sluice_test_assert_contains (error->message,
                       "stage 'call': provider 'openai': no API key: set api_key "
                       "(e.g. api_key: ${OPENAI_API_KEY})");
    }
}

static void
test_configuration_errors (void)
{
  static const struct { const char *block; const char *expect; } cases[] = {
    { "{targets: [{provider: openai, model: a, api_key: k}, {provider: openai, model: b, api_key: k}], policy: nope}",
      "unknown policy 'nope'" },
    { "{targets: [{provider: openai, model: a, api_key: k}, {provider: openai, model: b, api_key: k, temprature: 1}]}",
      "stage 'call': targets[1]: provider 'openai': /temprature: unknown property" },
    { "{target: {provider: openai, model: a, api_key: k}, breaker: {failures: 0}}",
      "breaker: give 'failures' or 'failure_rate' (both are 0)" },
    { "{target: {provider: openai, model: a, api_key: k}, breaker: {count: [bad_request]}}", "count" },
    { "{target: {provider: openai, model: a, api_key: k}, hedge: {after: 1s}}",
      "hedge: needs at least two targets" },
    { "{targets: [{provider: openai, model: a, api_key: k}, {provider: openai, model: b, api_key: k}], hedge: {after: soon}}",
      "after" },
    { "{target: {provider: openai, model: a, api_key: k}, retry: {budget: {attempts: 0}}}", "attempts" },
    { "{target: {provider: openai, model: a, api_key: k}, retry: {budget: {wasted: 10}}}", "wasted" },
    { "{target: {provider: openai, model: a, api_key: k}, timeout: 30 seconds}", "timeout" },
    { "{target: {provider: openai, model: a, api_key: k}, retry: {jitter: half}}", "jitter" },
    { "{target: {provider: openai, model: a, api_key: k}, retry: {max_attempts: 0}}", "max_attempts" },
    { "{target: {provider: openai, model: a, api_key: k}, retries: 3}", "retries" },
    { "{target: {provider: openai, model: a, api_key: k, temprature: 0}}", "temprature" },
    { "{target: {provider: nope, model: a, api_key: k}}", "unknown provider 'nope'" },
    { "{target: {provider: openai, model: a, api_key: k}, deadline: 0s}", "'deadline' must be longer than 0" },
    { "{timeout: 1s}", "stage 'call': a target is required, e.g. target: {provider: openai," },
    { "{target: {provider: openai, model: a, api_key: k}, targets: [{provider: openai, model: a, api_key: k}]}",
      "give 'target' or 'targets', not both" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *yaml = g_strdup_printf ("name: t\nstages:\n  - call: %s\n", cases[i].block);
      g_autoptr(GError) error = load_error (yaml);

      g_test_message ("%s → %s", cases[i].block, error->message);
      sluice_test_assert_contains (error->message, cases[i].expect);
    }

  /* One target in 'targets' is fine. */
  {
    g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine,
      "name: t\nstages:\n  - call: {targets: [{provider: openai, model: a, api_key: k}]}\n");
    g_assert_cmpuint (sluice_pipeline_get_n_stages (pipeline), ==, 1);
  }
}

/* ---- the key never shows ----------------------------------------------------------------------- */

/* The key, its masked form, or its tail. */
static void
assert_no_secret (const char *where,
                  const char *text)
{
  sluice_test_assert_no_secret (where, text, TEST_KEY, "sk-slu*", "K3y9Zq7Wm2Xv8Rt4", NULL);
}

static void
test_secret_never_shows (void)
{
  static const char * const markers[] = { "<case:401>", "<case:echo>", "<case:html>", "<case:ok>" };
  g_autofree char *url = start_mock (
    "{\"rules\": ["
    " {\"match\": \"<case:401>\", \"then\": {\"kind\": \"status\", \"status\": 401, \"body\":"
    "  \"{\\\"error\\\": {\\\"message\\\": \\\"Incorrect API key provided: " TEST_KEY_MASKED ". You can find your"
    " API key at https://platform.openai.com/account/api-keys.\\\", \\\"type\\\": \\\"invalid_request_error\\\","
    " \\\"code\\\": \\\"invalid_api_key\\\"}}\"}},"
    " {\"match\": \"<case:echo>\", \"then\": {\"kind\": \"status\", \"status\": 400, \"body\":"
    "  \"{\\\"error\\\": {\\\"message\\\": \\\"Bad header Authorization: Bearer " TEST_KEY "\\\"}}\"}},"
    " {\"match\": \"<case:html>\", \"then\": {\"kind\": \"status\", \"status\": 200, \"content_type\": \"text/html\","
    "  \"body\": \"<html>debug: key=" TEST_KEY "</html>\"}},"
    " {\"match\": \"<case:ok>\", \"sequence\": [\"server_error\"], \"then\": \"ok\"}]}");
  g_autoptr(SluicePipeline) pipeline = load_call (url, NULL,
    "retry: {max_attempts: 2, base: 10ms, jitter: none}");

  sluice_test_clear_logs ();
  for (guint i = 0; i < G_N_ELEMENTS (markers); i++)
    {
      g_autoptr(SluiceContext) context = new_context (markers[i]);
      g_autoptr(JsonNode) result = NULL;
      g_autoptr(JsonNode) target = NULL;
      g_autofree char *result_text = NULL;
      g_autofree char *target_text = NULL;
      g_autofree char *attempts_text = NULL;
      g_autoptr(JsonNode) attempts = json_node_init_array (json_node_alloc (),
                                                           sluice_context_get_attempts (context));
      Outcome outcome = { 0 };

      run_stage (pipeline, context, NULL, &outcome);
      if (outcome.error != NULL)
        sluice_context_set_error (context, outcome.error, "call");
      result = sluice_context_dup_result (context);
      result_text = sluice_json_to_string (result);
      target = json_node_init_object (json_node_alloc (), sluice_context_get_target (context));
      target_text = sluice_json_to_string (target);
      attempts_text = sluice_json_to_string (attempts);

      g_test_message ("%s: %s", markers[i], result_text);
      assert_no_secret ("the error", outcome.error != NULL ? outcome.error->message : NULL);
      assert_no_secret ("the result", result_text);
      assert_no_secret ("the attempts", attempts_text);
      assert_no_secret ("the target", target_text);
      outcome_clear (&outcome);
    }

  /* The auth failure still says what happened. */
  {
    g_autoptr(SluiceContext) context = new_context ("<case:401>");
    Outcome outcome = { 0 };

    run_stage (pipeline, context, NULL, &outcome);
    g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_AUTH);
    g_assert_true (g_str_has_prefix (outcome.error->message, "HTTP 401: Incorrect API key provided: [redacted]"));
    outcome_clear (&outcome);
  }

  /* Debug logging recorded the retries, yet shows no key. */
  sluice_test_assert_contains (sluice_test_get_logs (), "retrying in");
  assert_no_secret ("the log", sluice_test_get_logs ());
  sluice_test_mock_stop ();
}

/* Every log message is kept (and debug ones shown only on request), so a
 * test can look for the key in what was logged. */
int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("SLUICE_TEST_KEY", TEST_KEY, TRUE);
  g_setenv ("SLUICE_TEST_EMPTY_KEY", "", TRUE);
  engine = sluice_test_provider_setup (NULL);

  g_test_add_func ("/call/rate-limit-then-ok", test_rate_limit_then_ok);
  g_test_add_func ("/call/retry-after-ms", test_retry_after_ms);
  g_test_add_func ("/call/retry-after-http-date", test_retry_after_http_date);
  g_test_add_func ("/call/retry-after-absurd", test_retry_after_absurd);
  g_test_add_func ("/call/no-retry-on-client-errors", test_no_retry_on_client_errors);
  g_test_add_func ("/call/no-messages", test_no_messages);
  g_test_add_func ("/call/hang-times-out", test_hang_times_out);
  g_test_add_func ("/call/broken-streams-are-retried", test_broken_streams_are_retried);
  g_test_add_func ("/call/native-structured-output", test_native_structured_output);
  g_test_add_func ("/call/malformed-json-is-retried", test_malformed_json_is_retried);
  g_test_add_func ("/call/cut-body-is-retried", test_cut_body_is_retried);
  g_test_add_func ("/call/html-body-is-malformed", test_html_body_is_malformed);
  g_test_add_func ("/call/server-errors-then-ok", test_server_errors_then_ok);
  g_test_add_func ("/call/full-jitter-bounds", test_full_jitter_bounds);
  g_test_add_func ("/call/network-error", test_network_error);
  g_test_add_func ("/call/deadline-cuts-the-attempt", test_deadline_cuts_the_attempt);
  g_test_add_func ("/call/deadline-refuses-a-long-wait", test_deadline_refuses_a_long_wait);
  g_test_add_func ("/call/cancel-while-waiting", test_cancel_while_waiting);
  g_test_add_func ("/call/cancel-in-flight", test_cancel_in_flight);
  g_test_add_func ("/call/cancelled-before-start", test_cancelled_before_start);
  g_test_add_func ("/call/concurrent-requests", test_concurrent_requests);
  g_test_add_func ("/call/unknown-price-is-null", test_unknown_price_is_null);
  g_test_add_func ("/call/pipeline-with-assemble", test_pipeline_with_assemble);
  g_test_add_func ("/call/attempt-index-continues-on-rerun", test_attempt_index_continues_on_rerun);
  g_test_add_func ("/call/missing-key", test_missing_key);
  g_test_add_func ("/call/configuration-errors", test_configuration_errors);
  g_test_add_func ("/call/secret-never-shows", test_secret_never_shows);

  return sluice_test_provider_run (engine);
}
