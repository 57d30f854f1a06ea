/* test-rate-limit.c — the rate-limit stage: refusals, the FIFO queue and
 * its refill times, max_wait, max_queue, token budgets, keys, cancellation,
 * the usage correction and learning from the provider's headers.
 *
 * Timing tests use a one-stage harness (a pipeline holding only the
 * rate-limit stage, driven directly); the rest run whole pipelines with a
 * call stage against the mock provider.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

#include <stdlib.h>
#include <string.h>

static SluiceEngine *engine;

/* ---- harness ------------------------------------------------------------- */

static SluicePipeline *
load_alone (const char *config)
{
  g_autofree char *yaml = g_strdup_printf ("name: alone\nstages:\n  - rate-limit: %s\n", config);

  return sluice_test_load_pipeline (engine, yaml);
}

/* rate-limit with @config, then a call to the mock at @url. */
static SluicePipeline *
load_with_call (const char *url,
                const char *config)
{
  g_autofree char *yaml = g_strdup_printf (
    "name: limited\n"
    "stages:\n"
    "  - assemble: {system: Be brief., user: \"{{text}}\"}\n"
    "  - rate-limit: %s\n"
    "  - call:\n"
    "      target: {provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\", api_key: sk-test}\n"
    "      retry: {max_attempts: 1}\n", config, url);

  return sluice_test_load_pipeline (engine, yaml);
}

static gint64
mock_requests (void)
{
  g_autoptr(JsonObject) stats = sluice_test_mock_stats ();

  return json_object_get_int_member (stats, "requests");
}

typedef struct
{
  gboolean       done;
  SluiceVerdict  verdict;
  GError        *error;
  gint64         finished_ms;
  guint         *order;      /* where to write this one's turn */
  guint         *next_turn;
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
  if (outcome->order != NULL)
    *outcome->order = (*outcome->next_turn)++;
}

static void
start (SluicePipeline *pipeline,
       SluiceContext  *context,
       GCancellable   *cancellable,
       Outcome        *outcome)
{
  sluice_stage_process_async (sluice_pipeline_get_stage (pipeline, 0), context, cancellable,
                              on_processed, outcome);
}

static void
wait_for (Outcome *outcome)
{
  while (!outcome->done)
    g_main_context_iteration (NULL, TRUE);
}

static SluiceContext *
context_from (const char *input_json)
{
  g_autoptr(JsonNode) input = sluice_json_from_string (input_json, -1, NULL);

  g_assert_nonnull (input);
  return sluice_context_new (input);
}

/* The N of "retry in N ms" in @message. */
static gint64
retry_hint (const char *message)
{
  const char *at = strstr (message, "retry in ");

  g_assert_nonnull (at);
  return g_ascii_strtoll (at + 9, NULL, 10);
}

/* ---- refusing --------------------------------------------------------------- */

/* Two at once fit a bucket of 2; the third is refused, and never sent. */
static void
test_reject_third (void)
{
  g_autofree char *url = sluice_test_mock_start ("--seed", "1", NULL);
  g_autoptr(SluicePipeline) pipeline = load_with_call (url, "{requests_per_minute: 60, burst: 2, on_limit: reject}");
  g_autoptr(SluiceContext) first = sluice_test_run (pipeline, "{\"text\": \"one\"}");
  g_autoptr(SluiceContext) second = sluice_test_run (pipeline, "{\"text\": \"two\"}");
  g_autoptr(SluiceContext) third = sluice_test_run (pipeline, "{\"text\": \"three\"}");
  const GError *error = sluice_context_get_error (third);
  gint64 hint;

  g_assert_null (sluice_context_get_error (first));
  g_assert_null (sluice_context_get_error (second));
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_RATE_LIMITED);
  g_assert_cmpstr (sluice_context_get_error_stage (third), ==, "rate-limit");
  sluice_test_assert_contains (error->message, "rate limit of key 'limited': 60 requests/minute reached; retry in ");
  /* One request a second: the bucket is whole again within a second. */
  hint = retry_hint (error->message);
  g_assert_cmpint (hint, >, 0);
  g_assert_cmpint (hint, <=, 1000);
  g_assert_cmpint (mock_requests (), ==, 2);
  /* Admitted requests record their (nil) wait; the refused one none. */
  g_assert_cmpint (sluice_json_get_int (sluice_context_get_timings (first), "rate_limit_wait", -1), ==, 0);
  g_assert_false (json_object_has_member (sluice_context_get_timings (third), "rate_limit_wait"));
  sluice_test_mock_stop ();
}

/* Keys drawn from a label are separate budgets. */
static void
test_keys_are_independent (void)
{
  g_autoptr(SluicePipeline) pipeline =
    load_alone ("{key: \"user-{{labels.user}}/{{input.tier}}\", requests_per_minute: 60, burst: 1, on_limit: reject}");
  const char *users[] = { "ann", "ann", "bob", NULL };
  const gboolean refused[] = { FALSE, TRUE, FALSE, FALSE };

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(SluiceContext) context = context_from (i < 3 ? "{\"tier\": 2}" : "{\"other\": 1}");
      Outcome outcome = { 0 };

      sluice_context_set_label (context, "user", users[i]);
      start (pipeline, context, NULL, &outcome);
      wait_for (&outcome);
      if (refused[i])
        {
          g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_RATE_LIMITED);
          sluice_test_assert_contains (outcome.error->message, "rate limit of key 'user-ann/2': ");
        }
      else
        g_assert_no_error (outcome.error);
      g_clear_error (&outcome.error);
    }
}

/* ---- waiting ------------------------------------------------------------------- */

/* 600 a minute with a bucket of one: one now, then one every 100 ms, in
 * the order they came. */
static void
test_wait_fifo_at_refill_times (void)
{
  g_autoptr(SluicePipeline) pipeline = load_alone ("{requests_per_minute: 600, burst: 1}");
  SluiceContext *contexts[4];
  Outcome outcomes[4] = { { 0 } };
  guint order[4], next_turn = 0;
  gint64 before = sluice_monotonic_ms ();

  for (guint i = 0; i < 4; i++)
    {
      contexts[i] = context_from ("{\"text\": \"hi\"}");
      outcomes[i].order = &order[i];
      outcomes[i].next_turn = &next_turn;
      start (pipeline, contexts[i], NULL, &outcomes[i]);
    }
  for (guint i = 0; i < 4; i++)
    wait_for (&outcomes[i]);

  for (guint i = 0; i < 4; i++)
    {
      gint64 waited = sluice_json_get_int (sluice_context_get_timings (contexts[i]), "rate_limit_wait", -1);

      g_assert_no_error (outcomes[i].error);
      g_assert_cmpint (outcomes[i].verdict, ==, SLUICE_VERDICT_CONTINUE);
      g_assert_cmpuint (order[i], ==, i);
      /* The bucket was made at or after `before`: no turn comes earlier. */
      g_assert_cmpint (outcomes[i].finished_ms - before, >=, 100 * (gint64) i);
      g_assert_cmpint (outcomes[i].finished_ms - before, <, 100 * (gint64) i + 250);
      g_assert_cmpint (waited, >=, MAX (100 * (gint64) i - 20, 0));
      g_assert_cmpint (waited, <, 100 * (gint64) i + 250);
      g_object_unref (contexts[i]);
    }
}

/* A small request does not overtake a big one that waits for tokens. */
static void
test_small_does_not_overtake (void)
{
  /* One token a millisecond, a bucket of 1000. */
  g_autoptr(SluicePipeline) pipeline = load_alone ("{tokens_per_minute: 60000, token_burst: 1000}");
  g_autoptr(SluiceContext) big_first = context_from ("{\"input_tokens\": 900}");
  g_autoptr(SluiceContext) big = context_from ("{\"input_tokens\": 300}");
  g_autoptr(SluiceContext) small = context_from ("{\"input_tokens\": 10}");
  Outcome a = { 0 }, b = { 0 }, c = { 0 };
  guint order[3], next_turn = 0;
  gint64 before = sluice_monotonic_ms ();

  a.order = &order[0], b.order = &order[1], c.order = &order[2];
  a.next_turn = b.next_turn = c.next_turn = &next_turn;
  start (pipeline, big_first, NULL, &a);
  start (pipeline, big, NULL, &b);     /* 100 left: waits 200 ms */
  start (pipeline, small, NULL, &c);   /* would fit now, but b is first */
  wait_for (&a), wait_for (&b), wait_for (&c);

  g_assert_no_error (a.error);
  g_assert_no_error (b.error);
  g_assert_no_error (c.error);
  g_assert_cmpuint (order[0], ==, 0);
  g_assert_cmpuint (order[1], ==, 1);
  g_assert_cmpuint (order[2], ==, 2);
  g_assert_cmpint (b.finished_ms - before, >=, 200);
  g_assert_cmpint (c.finished_ms - before, >=, 210);
  g_assert_cmpint (c.finished_ms - before, <, 210 + 250);
}

/* A wait longer than max_wait is refused at once. */
static void
test_max_wait (void)
{
  g_autoptr(SluicePipeline) pipeline = load_alone ("{requests_per_minute: 60, burst: 1, max_wait: 500ms}");
  g_autoptr(SluiceContext) first = context_from ("{}");
  g_autoptr(SluiceContext) second = context_from ("{}");
  Outcome a = { 0 }, b = { 0 };
  gint64 before;

  start (pipeline, first, NULL, &a);
  wait_for (&a);
  g_assert_no_error (a.error);

  before = sluice_monotonic_ms ();
  start (pipeline, second, NULL, &b);
  wait_for (&b);
  g_assert_error (b.error, SLUICE_ERROR, SLUICE_ERROR_RATE_LIMITED);
  sluice_test_assert_contains (b.error->message, "60 requests/minute reached; its turn would come in ");
  sluice_test_assert_contains (b.error->message, "after max_wait (500 ms)");
  g_assert_cmpint (b.finished_ms - before, <, 100);
  g_clear_error (&b.error);
}

/* max_queue waiting, then the next is refused at once; the queue drains. */
static void
test_max_queue (void)
{
  g_autoptr(SluicePipeline) pipeline = load_alone ("{requests_per_minute: 1200, burst: 1, max_queue: 2}");
  SluiceContext *contexts[4];
  Outcome outcomes[4] = { { 0 } };
  gint64 before = sluice_monotonic_ms ();

  for (guint i = 0; i < 4; i++)
    {
      contexts[i] = context_from ("{}");
      start (pipeline, contexts[i], NULL, &outcomes[i]);
    }
  wait_for (&outcomes[3]);
  g_assert_error (outcomes[3].error, SLUICE_ERROR, SLUICE_ERROR_RATE_LIMITED);
  sluice_test_assert_contains (outcomes[3].error->message, "and 2 requests wait already (max_queue)");
  g_assert_false (outcomes[2].done);
  g_assert_cmpint (outcomes[3].finished_ms - before, <, 50);

  for (guint i = 0; i < 3; i++)
    {
      wait_for (&outcomes[i]);
      g_assert_no_error (outcomes[i].error);
      g_assert_cmpint (outcomes[i].finished_ms - before, >=, 50 * (gint64) i);
    }
  for (guint i = 0; i < 4; i++)
    g_object_unref (contexts[i]);
  g_clear_error (&outcomes[3].error);
}

/* A request larger than the token bucket could never pass: refused at
 * once. The estimate is a quarter of the input's JSON, rounded up, plus
 * expected_completion_tokens. */
static void
test_too_large_for_tokens (void)
{
  g_autoptr(SluicePipeline) pipeline =
    load_alone ("{tokens_per_minute: 6000, expected_completion_tokens: 100}");
  g_autofree char *text = g_strnfill (4001, 'x');
  g_autofree char *input = g_strdup_printf ("{\"t\":\"%s\"}", text);   /* 4009 bytes */
  g_autoptr(SluiceContext) context = context_from (input);
  Outcome outcome = { 0 };

  start (pipeline, context, NULL, &outcome);
  wait_for (&outcome);
  g_assert_error (outcome.error, SLUICE_ERROR, SLUICE_ERROR_RATE_LIMITED);
  sluice_test_assert_contains (outcome.error->message,
                               "the request's estimated 1103 tokens are more than the 1000 the bucket holds");
  sluice_test_assert_contains (outcome.error->message, "it could never pass");
  g_clear_error (&outcome.error);
}

/* Cancelling a waiting request takes it out of the queue: the one behind
 * moves up to its turn. */
static void
test_cancel_waiting (void)
{
  g_autoptr(SluicePipeline) pipeline = load_alone ("{requests_per_minute: 600, burst: 1}");
  g_autoptr(SluiceContext) first = context_from ("{}");
  g_autoptr(SluiceContext) second = context_from ("{}");
  g_autoptr(SluiceContext) third = context_from ("{}");
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  Outcome a = { 0 }, b = { 0 }, c = { 0 };
  gint64 before = sluice_monotonic_ms (), cancelled_at;

  start (pipeline, first, NULL, &a);
  start (pipeline, second, cancellable, &b);
  start (pipeline, third, NULL, &c);
  wait_for (&a);
  cancelled_at = sluice_monotonic_ms ();
  g_cancellable_cancel (cancellable);
  wait_for (&b);
  g_assert_error (b.error, SLUICE_ERROR, SLUICE_ERROR_CANCELLED);
  g_assert_cmpint (b.finished_ms - cancelled_at, <, 50);
  g_assert_false (json_object_has_member (sluice_context_get_timings (second), "rate_limit_wait"));

  /* The third takes the second's turn, 100 ms after the first. */
  wait_for (&c);
  g_assert_no_error (c.error);
  g_assert_cmpint (c.finished_ms - before, >=, 100);
  g_assert_cmpint (c.finished_ms - before, <, 100 + 250);
  g_clear_error (&b.error);
}

/* ---- on the way out --------------------------------------------------------- */

/* The estimate is replaced by the real usage: a refund lets the next big
 * request through at once. */
static void
test_usage_refund (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"match\": \"xxxx\", \"then\": {\"kind\": \"ok\", \"content\": \"ok\","
    " \"usage\": {\"prompt_tokens\": 10, \"completion_tokens\": 2, \"total_tokens\": 12}}}]}", NULL);
  /* One token a minute refills nothing worth counting during the test. */
  g_autoptr(SluicePipeline) pipeline =
    load_with_call (url, "{tokens_per_minute: 1, token_burst: 1000, on_limit: reject}");
  g_autofree char *text = g_strnfill (3000, 'x');
  g_autofree char *input = g_strdup_printf ("{\"text\": \"%s\"}", text);
  g_autoptr(SluiceContext) first = sluice_test_run (pipeline, input);
  g_autoptr(SluiceContext) second = sluice_test_run (pipeline, input);
  g_autoptr(SluiceContext) third = NULL;
  g_autoptr(SluiceContext) fourth = NULL;
  const GError *error;

  /* Estimated: ceil ((9 + 3000) / 4) = 753 of the 1000; used: 12. Without
   * the refund the second would not fit. */
  g_assert_null (sluice_context_get_error (first));
  g_assert_cmpint (sluice_context_get_prompt_tokens (first), ==, 10);
  g_assert_null (sluice_context_get_error (second));

  /* 1000 - 12 - 12 = 976 left, to the token. */
  third = sluice_test_run (pipeline, "{\"text\": \"xxxx\", \"input_tokens\": 977}");
  error = sluice_context_get_error (third);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_RATE_LIMITED);
  sluice_test_assert_contains (error->message, "1 tokens/minute reached");
  fourth = sluice_test_run (pipeline, "{\"text\": \"xxxx\", \"input_tokens\": 976}");
  g_assert_null (sluice_context_get_error (fourth));
  g_assert_cmpint (mock_requests (), ==, 3);
  sluice_test_mock_stop ();
}

/* The provider says how many requests are left: the bucket goes no higher. */
static void
test_learns_remaining (void)
{
  const char *body =
    "{\"id\": \"c1\", \"object\": \"chat.completion\", \"model\": \"gpt-4o-mini\","
    " \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": \"ok\"},"
    " \"finish_reason\": \"stop\"}],"
    " \"usage\": {\"prompt_tokens\": 5, \"completion_tokens\": 1, \"total_tokens\": 6}}";
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "three-left", sluice_test_status_step (200, body, "application/json",
                                           "{\"x-ratelimit-remaining-requests\": \"3\","
                                           " \"x-ratelimit-remaining-tokens\": \"149000\"}"),
    NULL);
  /* A bucket of 10 requests, refilled by 1 every 10 s. */
  g_autoptr(SluicePipeline) pipeline =
    load_with_call (url, "{requests_per_minute: 6, burst: 10, on_limit: reject}");
  guint passed = 0;

  for (guint i = 0; i < 10; i++)
    {
      g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"three-left\"}");
      SluiceResponse *response = sluice_context_get_response (context);

      if (sluice_context_get_error (context) != NULL)
        {
          g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_RATE_LIMITED);
          continue;
        }
      g_assert_cmpint (sluice_response_get_ratelimit_remaining_requests (response), ==, 3);
      g_assert_cmpint (sluice_response_get_ratelimit_remaining_tokens (response), ==, 149000);
      g_assert_cmpint (sluice_response_get_ratelimit_reset_ms (response), ==, -1);
      passed++;
    }
  /* 10 → 9, lowered to 3 by the first answer; then 3 more. */
  g_assert_cmpuint (passed, ==, 4);
  g_assert_cmpint (mock_requests (), ==, 4);
  sluice_test_mock_stop ();
}

/* Remaining 0 with a reset: the bucket stays empty until then. */
static void
test_learns_exhausted_until_reset (void)
{
  const char *body =
    "{\"id\": \"c1\", \"object\": \"chat.completion\", \"model\": \"gpt-4o-mini\","
    " \"choices\": [{\"index\": 0, \"message\": {\"role\": \"assistant\", \"content\": \"ok\"},"
    " \"finish_reason\": \"stop\"}],"
    " \"usage\": {\"prompt_tokens\": 5, \"completion_tokens\": 1, \"total_tokens\": 6}}";
  g_autofree char *url = sluice_test_mock_start_with_rules (
    "none-left", sluice_test_status_step (200, body, "application/json",
                                          "{\"x-ratelimit-remaining-requests\": \"0\","
                                          " \"x-ratelimit-reset-requests\": \"300ms\"}"),
    NULL);
  /* 6000 a minute: without the provider's word the second would pass. */
  g_autoptr(SluicePipeline) pipeline =
    load_with_call (url, "{requests_per_minute: 6000, burst: 100, on_limit: reject}");
  g_autoptr(SluiceContext) first = sluice_test_run (pipeline, "{\"text\": \"none-left\"}");
  g_autoptr(SluiceContext) second = NULL;
  const GError *error;
  gint64 hint;

  g_assert_null (sluice_context_get_error (first));
  g_assert_cmpint (sluice_response_get_ratelimit_remaining_requests (sluice_context_get_response (first)), ==, 0);
  g_assert_cmpint (sluice_response_get_ratelimit_reset_ms (sluice_context_get_response (first)), ==, 300);

  second = sluice_test_run (pipeline, "{\"text\": \"none-left\"}");
  error = sluice_context_get_error (second);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_RATE_LIMITED);
  sluice_test_assert_contains (error->message, "the provider reports its requests limit exhausted; retry in ");
  /* The reset, plus the 10 ms one request takes to refill at 6000/minute. */
  hint = retry_hint (error->message);
  g_assert_cmpint (hint, >, 10);
  g_assert_cmpint (hint, <=, 310);
  g_assert_cmpint (mock_requests (), ==, 1);
  sluice_test_mock_stop ();
}

/* ---- configuration --------------------------------------------------------- */

static void
assert_refused (const char *config,
                const char *message)
{
  g_autofree char *yaml = g_strdup_printf ("name: bad\nstages:\n  - rate-limit: %s\n", config);
  g_autofree char *path = sluice_test_write_file ("pipeline.yaml", yaml);
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(GError) error = NULL;

  pipeline = sluice_pipeline_new_from_file (engine, path, &error);
  g_assert_null (pipeline);
  g_assert_nonnull (error);
  sluice_test_assert_contains (error->message, message);
}

static void
test_configuration_errors (void)
{
  assert_refused ("{on_limit: reject}", "give requests_per_minute, tokens_per_minute or both");
  assert_refused ("{tokens_per_minute: 100, burst: 2}", "'burst' needs requests_per_minute");
  assert_refused ("{requests_per_minute: 0}", "requests_per_minute");
  assert_refused ("{requests_per_minute: 10, on_limit: later}", "on_limit");
  assert_refused ("{requests_per_minute: 10, max_wait: 10}", "max_wait");
  assert_refused ("{requests_per_minute: 10, per_second: 1}", "per_second");
  assert_refused ("{requests_per_minute: 10, key: \"{{user}}\"}", "'{{user}}' is not {{labels.NAME}} or {{input.FIELD}}");
  assert_refused ("{requests_per_minute: 10, key: \"{{labels.user\"}", "is not closed");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  engine = sluice_test_provider_setup (NULL);

  g_test_add_func ("/rate-limit/reject-third", test_reject_third);
  g_test_add_func ("/rate-limit/keys-are-independent", test_keys_are_independent);
  g_test_add_func ("/rate-limit/wait-fifo-at-refill-times", test_wait_fifo_at_refill_times);
  g_test_add_func ("/rate-limit/small-does-not-overtake", test_small_does_not_overtake);
  g_test_add_func ("/rate-limit/max-wait", test_max_wait);
  g_test_add_func ("/rate-limit/max-queue", test_max_queue);
  g_test_add_func ("/rate-limit/too-large-for-tokens", test_too_large_for_tokens);
  g_test_add_func ("/rate-limit/cancel-waiting", test_cancel_waiting);
  g_test_add_func ("/rate-limit/usage-refund", test_usage_refund);
  g_test_add_func ("/rate-limit/learns-remaining", test_learns_remaining);
  g_test_add_func ("/rate-limit/learns-exhausted-until-reset", test_learns_exhausted_until_reset);
  g_test_add_func ("/rate-limit/configuration-errors", test_configuration_errors);

  return sluice_test_provider_run (engine);
}
