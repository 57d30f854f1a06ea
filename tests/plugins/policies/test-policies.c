/* test-policies.c — the fallback policies picked straight through the
 * interface, the way the call stage asks them: a target set (some behind
 * tripped breakers), a context holding the attempts so far, and the last
 * error. Every pick is asserted exactly, except the weighted shares,
 * which are counted over a seeded run.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-util.h"

static SluiceEngine *engine;

/* ---- harness ------------------------------------------------------------- */

static JsonNode *
parse (const char *json)
{
  GError *error = NULL;
  JsonNode *node = sluice_json_from_string (json, -1, &error);

  g_assert_no_error (error);
  return node;
}

/* A breaker that one failure opens for an hour. */
static SluiceBreaker *
tripped_breaker (const char *key)
{
  SluiceBreakerSettings settings = { .failures = 1, .min_calls = 1, .window_ms = 60000,
                                     .reset_ms = 3600000, .probes = 1 };
  SluiceBreaker *breaker = sluice_breaker_new (key, &settings);
  gint64 now = sluice_monotonic_ms ();

  g_assert_true (sluice_breaker_try_acquire (breaker, now));
  sluice_breaker_record (breaker, now, FALSE);
  g_assert_cmpint (sluice_breaker_get_state (breaker, now), ==, SLUICE_BREAKER_OPEN);
  return breaker;
}

/* Targets from a JSON array; those listed in @tripped (indices, -1
 * ending) sit behind an open breaker. */
static SluiceTargetSet *
make_targets (const char *json,
              gint        first_tripped,
              ...)
{
  g_autoptr(JsonNode) node = parse (json);
  JsonArray *array = json_node_get_array (node);
  SluiceTargetSet *targets = sluice_target_set_new ();
  g_autoptr(GArray) tripped = g_array_new (FALSE, FALSE, sizeof (gint));
  va_list args;

  va_start (args, first_tripped);
  for (gint i = first_tripped; i >= 0; i = va_arg (args, gint))
    g_array_append_val (tripped, i);
  va_end (args);

  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      g_autoptr(SluiceBreaker) breaker = NULL;

      for (guint j = 0; j < tripped->len; j++)
        if (g_array_index (tripped, gint, j) == (gint) i)
          breaker = tripped_breaker ("test");
      sluice_target_set_add (targets, json_array_get_object_element (array, i), breaker);
    }
  return targets;
}

static SluiceFallbackPolicy *
load_policy (const char      *name,
             const char      *config_json,
             SluiceTargetSet *targets)
{
  g_autoptr(JsonNode) config = config_json != NULL ? parse (config_json) : NULL;
  GError *error = NULL;
  GObject *object;

  object = sluice_engine_create (engine, "policy", name, &error);
  g_assert_no_error (error);
  g_assert_true (SLUICE_IS_FALLBACK_POLICY (object));
  /* What the call stage does with the block first. */
  g_assert_true (sluice_engine_check_config (engine, "policy", name, config, &error));
  g_assert_no_error (error);
  g_assert_true (sluice_fallback_policy_configure (SLUICE_FALLBACK_POLICY (object),
                                                   config != NULL ? json_node_get_object (config) : NULL,
                                                   targets, &error));
  g_assert_no_error (error);
  return SLUICE_FALLBACK_POLICY (object);
}

static SluiceContext *
make_context (const char *input_json)
{
  g_autoptr(JsonNode) input = parse (input_json != NULL ? input_json : "{}");

  return sluice_context_new (input);
}

static void
add_attempt (SluiceContext *context,
             guint          index,
             const char    *outcome,
             const char    *kind)
{
  g_autoptr(JsonObject) attempt = json_object_new ();

  json_object_set_int_member (attempt, "attempt", json_array_get_length (sluice_context_get_attempts (context)) + 1);
  json_object_set_int_member (attempt, "target_index", index);
  json_object_set_string_member (attempt, "outcome", outcome);
  if (kind != NULL)
    json_object_set_string_member (attempt, "error_kind", kind);
  sluice_context_add_attempt (context, attempt);
}

/* Records a failed attempt on @index and asks for the next target. */
static gint
fail (SluiceFallbackPolicy *policy,
      SluiceContext        *context,
      SluiceTargetSet      *targets,
      guint                 index,
      SluiceErrorCode       code)
{
  g_autoptr(GError) error = g_error_new_literal (SLUICE_ERROR, code, "test failure");

  add_attempt (context, index, "error", sluice_error_kind (code));
  return sluice_fallback_policy_next_target (policy, context, targets, index, error);
}

/* Asks again after @index failed with @code, recording nothing. */
static gint
next_after (SluiceFallbackPolicy *policy,
            SluiceContext        *context,
            SluiceTargetSet      *targets,
            gint                  index,
            SluiceErrorCode       code)
{
  g_autoptr(GError) error = code != 0 ? g_error_new_literal (SLUICE_ERROR, code, "test failure") : NULL;

  return sluice_fallback_policy_next_target (policy, context, targets, index, error);
}

static gint
first (SluiceFallbackPolicy *policy,
       SluiceContext        *context,
       SluiceTargetSet      *targets)
{
  return sluice_fallback_policy_next_target (policy, context, targets, -1, NULL);
}

#define THREE_PROVIDERS \
  "[{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"max_attempts\": 3}," \
  " {\"provider\": \"anthropic\", \"model\": \"claude-haiku-4-5\", \"max_attempts\": 2}," \
  " {\"provider\": \"gemini\", \"model\": \"gemini-2.5-flash\", \"max_attempts\": 1}]"

/* ---- chain ------------------------------------------------------------------ */

static void
test_chain_order (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (THREE_PROVIDERS, -1);
  g_autoptr(SluiceFallbackPolicy) policy = load_policy ("chain", NULL, targets);
  g_autoptr(SluiceContext) context = make_context (NULL);

  g_assert_cmpint (first (policy, context, targets), ==, 0);
  /* Attempts first, then on down the list, never back. */
  g_assert_cmpint (fail (policy, context, targets, 0, SLUICE_ERROR_SERVER), ==, 0);
  g_assert_cmpint (fail (policy, context, targets, 0, SLUICE_ERROR_OVERLOADED), ==, 0);
  g_assert_cmpint (fail (policy, context, targets, 0, SLUICE_ERROR_SERVER), ==, 1);
  g_assert_cmpint (fail (policy, context, targets, 1, SLUICE_ERROR_NETWORK), ==, 1);
  g_assert_cmpint (fail (policy, context, targets, 1, SLUICE_ERROR_NETWORK), ==, 2);
  g_assert_cmpint (fail (policy, context, targets, 2, SLUICE_ERROR_TIMEOUT), ==, -1);
}

static void
test_chain_kinds (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (THREE_PROVIDERS, -1);
  g_autoptr(SluiceFallbackPolicy) policy = load_policy ("chain", "{}", targets);
  g_autoptr(SluiceContext) context = make_context (NULL);

  /* Not retryable: on at once. */
  g_assert_cmpint (fail (policy, context, targets, 0, SLUICE_ERROR_AUTH), ==, 1);
  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_NOT_FOUND), ==, 1);
  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_BUDGET_EXCEEDED), ==, 1);
  /* Retryable with attempts left: the same target. */
  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_TRUNCATED), ==, 0);
  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_MALFORMED), ==, 0);
  /* bad_request is not in the default fallback_on: give up. */
  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_BAD_REQUEST), ==, -1);
  /* The breaker refused: on, without spending an attempt. */
  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_CIRCUIT_OPEN), ==, 1);
  /* Nor on a failure from outside the sluice domain (internal). */
  {
    g_autoptr(GError) internal = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "x");
    g_autoptr(GError) cancelled = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "x");

    g_assert_cmpint (sluice_fallback_policy_next_target (policy, context, targets, 0, internal), ==, -1);
    g_assert_cmpint (sluice_fallback_policy_next_target (policy, context, targets, 0, cancelled), ==, -1);
  }
  /* The last target failing for good: nothing earlier is tried again. */
  g_assert_cmpint (fail (policy, context, targets, 2, SLUICE_ERROR_AUTH), ==, -1);
}

static void
test_chain_rate_limited (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (THREE_PROVIDERS, -1);
  g_autoptr(SluiceTargetSet) rest_open = make_targets (THREE_PROVIDERS, 1, 2, -1);
  g_autoptr(SluiceFallbackPolicy) next = load_policy ("chain", NULL, targets);
  g_autoptr(SluiceFallbackPolicy) wait = load_policy ("chain", "{\"rate_limited\": \"wait\"}", targets);
  g_autoptr(SluiceContext) context = make_context (NULL);

  add_attempt (context, 0, "error", "rate_limited");
  /* next: on at once, though the target has attempts left... */
  g_assert_cmpint (next_after (next, context, targets, 0, SLUICE_ERROR_RATE_LIMITED), ==, 1);
  /* ...unless no later target can take it; then the same one waits. */
  g_assert_cmpint (next_after (next, context, rest_open, 0, SLUICE_ERROR_RATE_LIMITED), ==, 0);
  /* wait: the same target after the backoff. */
  g_assert_cmpint (next_after (wait, context, targets, 0, SLUICE_ERROR_RATE_LIMITED), ==, 0);
  add_attempt (context, 0, "error", "rate_limited");
  add_attempt (context, 0, "error", "rate_limited");
  g_assert_cmpint (next_after (wait, context, targets, 0, SLUICE_ERROR_RATE_LIMITED), ==, 1);
  g_assert_cmpint (next_after (next, context, rest_open, 0, SLUICE_ERROR_RATE_LIMITED), ==, -1);
}

static void
test_chain_context_overflow (void)
{
  /* Windows: 128000, 16385, 128000, 200000; then unknown ones. */
  g_autoptr(SluiceTargetSet) targets = make_targets (
    "[{\"provider\": \"openai\", \"model\": \"gpt-4o\"},"
    " {\"provider\": \"openai\", \"model\": \"gpt-3.5-turbo\"},"
    " {\"provider\": \"openai\", \"model\": \"gpt-4o-mini\"},"
    " {\"provider\": \"anthropic\", \"model\": \"claude-haiku-4-5\"},"
    " {\"provider\": \"local\", \"model\": \"house-model\"},"
    " {\"provider\": \"local\", \"model\": \"house-model\"},"
    " {\"provider\": \"local\", \"model\": \"other-model\"}]", -1);
  g_autoptr(SluiceFallbackPolicy) policy = load_policy ("chain", NULL, targets);
  g_autoptr(SluiceContext) context = make_context (NULL);

  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_CONTEXT_OVERFLOW), ==, 3);
  g_assert_cmpint (next_after (policy, context, targets, 1, SLUICE_ERROR_CONTEXT_OVERFLOW), ==, 2);
  /* Nothing larger than 200000 after it but the unknown: another model. */
  g_assert_cmpint (next_after (policy, context, targets, 3, SLUICE_ERROR_CONTEXT_OVERFLOW), ==, 4);
  g_assert_cmpint (next_after (policy, context, targets, 4, SLUICE_ERROR_CONTEXT_OVERFLOW), ==, 6);
  g_assert_cmpint (next_after (policy, context, targets, 6, SLUICE_ERROR_CONTEXT_OVERFLOW), ==, -1);
}

static void
test_chain_content_filter (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (
    "[{\"provider\": \"openai\", \"model\": \"gpt-4o\"},"
    " {\"provider\": \"openai\", \"model\": \"gpt-4o-mini\"},"
    " {\"provider\": \"anthropic\", \"model\": \"claude-haiku-4-5\"},"
    " {\"provider\": \"anthropic\", \"model\": \"claude-sonnet-4-5\"}]", -1);
  g_autoptr(SluiceFallbackPolicy) policy = load_policy ("chain", NULL, targets);
  g_autoptr(SluiceContext) context = make_context (NULL);

  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_CONTENT_FILTER), ==, 2);
  g_assert_cmpint (next_after (policy, context, targets, 2, SLUICE_ERROR_CONTENT_FILTER), ==, -1);
  /* Other kinds take the very next one. */
  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_AUTH), ==, 1);
}

static void
test_chain_open_breaker (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (THREE_PROVIDERS, 1, -1);
  g_autoptr(SluiceTargetSet) first_open = make_targets (THREE_PROVIDERS, 0, -1);
  g_autoptr(SluiceTargetSet) all_open = make_targets (THREE_PROVIDERS, 0, 1, 2, -1);
  g_autoptr(SluiceFallbackPolicy) policy = load_policy ("chain", NULL, targets);
  g_autoptr(SluiceContext) context = make_context (NULL);

  g_assert_false (sluice_target_set_is_available (targets, 1));
  g_assert_cmpint (first (policy, context, first_open), ==, 1);
  g_assert_cmpint (first (policy, context, all_open), ==, -1);
  g_assert_cmpint (fail (policy, context, targets, 0, SLUICE_ERROR_AUTH), ==, 2);
  /* A retryable error on a target whose breaker opened: not retried. */
  g_assert_cmpint (next_after (policy, context, first_open, 0, SLUICE_ERROR_SERVER), ==, 1);
}

static void
test_chain_fallback_on (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (THREE_PROVIDERS, -1);
  g_autoptr(SluiceFallbackPolicy) policy = load_policy ("chain", "{\"fallback_on\": [\"timeout\", \"bad_request\"]}", targets);
  g_autoptr(SluiceContext) context = make_context (NULL);

  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_BAD_REQUEST), ==, 1);
  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_AUTH), ==, -1);
  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_CIRCUIT_OPEN), ==, -1);
  /* Outside fallback_on, a retryable error still retries the same target... */
  g_assert_cmpint (fail (policy, context, targets, 0, SLUICE_ERROR_SERVER), ==, 0);
  g_assert_cmpint (fail (policy, context, targets, 0, SLUICE_ERROR_SERVER), ==, 0);
  /* ...until its attempts are spent. */
  g_assert_cmpint (fail (policy, context, targets, 0, SLUICE_ERROR_SERVER), ==, -1);
  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_TIMEOUT), ==, 1);
}

static void
test_chain_hedge (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (
    "[{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"max_attempts\": 1},"
    " {\"provider\": \"anthropic\", \"model\": \"claude-haiku-4-5\", \"max_attempts\": 1}]", -1);
  g_autoptr(SluiceFallbackPolicy) policy = load_policy ("chain", NULL, targets);
  g_autoptr(SluiceContext) context = make_context (NULL);

  /* The attempt in flight on 0 is slow: a second target for the hedge. */
  add_attempt (context, 0, "error", "timeout");
  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_TIMEOUT), ==, 1);
  /* Skipped attempts (breaker refusals) do not count. */
  add_attempt (context, 1, "skipped", "circuit_open");
  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_AUTH), ==, 1);
  add_attempt (context, 1, "error", "timeout");
  g_assert_cmpint (next_after (policy, context, targets, 0, SLUICE_ERROR_AUTH), ==, -1);
}

static void
test_chain_bad_config (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (THREE_PROVIDERS, -1);
  g_autoptr(GObject) policy = sluice_engine_create (engine, "policy", "chain", NULL);
  g_autoptr(JsonNode) config = parse ("{\"fallback_on\": [\"sever\"]}");
  g_autoptr(GError) error = NULL;

  g_assert_false (sluice_engine_check_config (engine, "policy", "chain", config, NULL));
  g_assert_false (sluice_fallback_policy_configure (SLUICE_FALLBACK_POLICY (policy),
                                                    json_node_get_object (config), targets, &error));
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG);
  sluice_test_assert_contains (error->message, "'sever'");
}

/* ---- weighted --------------------------------------------------------------- */

#define WEIGHTED_TARGETS \
  "[{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"weight\": 3, \"max_attempts\": 2}," \
  " {\"provider\": \"anthropic\", \"model\": \"claude-haiku-4-5\", \"weight\": 1, \"max_attempts\": 2}," \
  " {\"provider\": \"gemini\", \"model\": \"gemini-2.5-flash\", \"weight\": 0, \"max_attempts\": 2}]"

static void
test_weighted_shares (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (WEIGHTED_TARGETS, -1);
  g_autoptr(SluiceFallbackPolicy) policy = load_policy ("weighted", "{\"seed\": 7}", targets);
  g_autoptr(SluiceContext) context = make_context (NULL);
  guint counts[3] = { 0 };

  for (guint i = 0; i < 4000; i++)
    {
      gint pick = first (policy, context, targets);

      g_assert_cmpint (pick, >=, 0);
      g_assert_cmpint (pick, <, 3);
      counts[pick]++;
    }
  g_assert_cmpuint (counts[0], >=, 2800);
  g_assert_cmpuint (counts[0], <=, 3200);
  g_assert_cmpuint (counts[0] + counts[1], ==, 4000);
  g_assert_cmpuint (counts[2], ==, 0);

  /* The same seed, the same picks. */
  {
    g_autoptr(SluiceFallbackPolicy) one = load_policy ("weighted", "{\"seed\": 99}", targets);
    g_autoptr(SluiceFallbackPolicy) two = load_policy ("weighted", "{\"seed\": 99}", targets);

    for (guint i = 0; i < 50; i++)
      g_assert_cmpint (first (one, context, targets), ==, first (two, context, targets));
  }
}

static void
test_weighted_after_failure (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (WEIGHTED_TARGETS, -1);
  g_autoptr(SluiceTargetSet) second_open = make_targets (WEIGHTED_TARGETS, 1, -1);
  g_autoptr(SluiceFallbackPolicy) policy = load_policy ("weighted", "{}", targets);

  for (guint round = 0; round < 20; round++)
    {
      g_autoptr(SluiceContext) context = make_context (NULL);
      g_autoptr(SluiceContext) other = make_context (NULL);
      gint pick = first (policy, context, targets);

      g_assert_true (pick == 0 || pick == 1);
      /* The untried one, retryable or not. */
      g_assert_cmpint (fail (policy, context, targets, pick, SLUICE_ERROR_SERVER), ==, 1 - pick);
      /* Both tried once: a retryable error may go to either... */
      pick = fail (policy, context, targets, 1 - pick, SLUICE_ERROR_SERVER);
      g_assert_true (pick == 0 || pick == 1);
      /* ...a non-retryable one only to the other. */
      g_assert_cmpint (next_after (policy, context, targets, 1, SLUICE_ERROR_AUTH), ==, 0);

      /* Weight 0 is never a fallback; an open breaker neither. */
      add_attempt (other, 0, "error", "server");
      g_assert_cmpint (next_after (policy, other, second_open, 0, SLUICE_ERROR_SERVER), ==, 0);
      g_assert_cmpint (next_after (policy, other, second_open, 0, SLUICE_ERROR_AUTH), ==, -1);
      add_attempt (other, 0, "error", "server");
      g_assert_cmpint (next_after (policy, other, second_open, 0, SLUICE_ERROR_SERVER), ==, -1);
      /* No fallback after bad_request or a cancellation. */
      g_assert_cmpint (next_after (policy, other, targets, 0, SLUICE_ERROR_BAD_REQUEST), ==, -1);
      g_assert_cmpint (next_after (policy, other, targets, 0, SLUICE_ERROR_CANCELLED), ==, -1);
    }
}

/* ---- least-latency ----------------------------------------------------------- */

static void
test_least_latency (void)
{
  const char *json =
    "[{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"max_attempts\": 2},"
    " {\"provider\": \"anthropic\", \"model\": \"claude-haiku-4-5\", \"max_attempts\": 2},"
    " {\"provider\": \"gemini\", \"model\": \"gemini-2.5-flash\", \"max_attempts\": 2},"
    " {\"provider\": \"openai\", \"model\": \"gpt-4.1-nano\", \"max_attempts\": 2}]";
  g_autoptr(SluiceTargetSet) targets = make_targets (json, -1);
  g_autoptr(SluiceTargetSet) second_open = make_targets (json, 1, -1);
  g_autoptr(SluiceFallbackPolicy) policy = load_policy ("least-latency", "{}", targets);
  g_autoptr(SluiceContext) context = make_context (NULL);

  /* Nothing known: list order. */
  g_assert_cmpint (first (policy, context, targets), ==, 0);

  for (guint i = 0; i < 5; i++)
    {
      sluice_target_set_record_latency (targets, 0, 300);
      sluice_target_set_record_latency (targets, 1, 100);
      sluice_target_set_record_latency (targets, 2, 200);
      sluice_target_set_record_latency (second_open, 0, 300);
      sluice_target_set_record_latency (second_open, 1, 100);
      sluice_target_set_record_latency (second_open, 2, 200);
    }
  /* The unknown one is explored first. */
  g_assert_cmpint (first (policy, context, targets), ==, 3);
  sluice_target_set_record_latency (targets, 3, 400);
  sluice_target_set_record_latency (second_open, 3, 400);
  g_assert_cmpint (first (policy, context, targets), ==, 1);
  g_assert_cmpint (first (policy, context, second_open), ==, 2);

  /* After a failure: the fastest the request has not tried. */
  g_assert_cmpint (fail (policy, context, targets, 1, SLUICE_ERROR_SERVER), ==, 2);
  g_assert_cmpint (fail (policy, context, targets, 2, SLUICE_ERROR_AUTH), ==, 0);
  g_assert_cmpint (fail (policy, context, targets, 0, SLUICE_ERROR_TIMEOUT), ==, 3);
  /* All tried once: the fastest again, unless its error cannot be retried. */
  g_assert_cmpint (fail (policy, context, targets, 3, SLUICE_ERROR_SERVER), ==, 1);
  g_assert_cmpint (next_after (policy, context, targets, 1, SLUICE_ERROR_AUTH), ==, 2);
  g_assert_cmpint (next_after (policy, context, targets, 1, SLUICE_ERROR_BAD_REQUEST), ==, -1);
  /* Spent targets are not picked; an open breaker is not. */
  add_attempt (context, 1, "error", "server");
  add_attempt (context, 2, "error", "server");
  g_assert_cmpint (next_after (policy, context, targets, 2, SLUICE_ERROR_SERVER), ==, 0);
  g_assert_cmpint (next_after (policy, context, second_open, 2, SLUICE_ERROR_SERVER), ==, 0);
}

/* ---- route -------------------------------------------------------------------- */

#define ROUTE_TARGETS \
  "[{\"provider\": \"openai\", \"model\": \"gpt-4o-mini\", \"tier\": \"cheap\"}," \
  " {\"provider\": \"anthropic\", \"model\": \"claude-haiku-4-5\", \"tier\": \"cheap\"}," \
  " {\"provider\": \"gemini\", \"model\": \"gemini-2.5-pro\", \"tier\": \"big\"}," \
  " {\"provider\": \"openai\", \"model\": \"gpt-4.1-nano\", \"tier\": \"fast\"}]"

#define ROUTE_RULES \
  "\"rules\": [" \
  "  {\"when\": {\"input_tokens_over\": 1000}, \"tier\": \"big\"}," \
  "  {\"when\": {\"keywords\": [\"URGENT\", \"asap\"]}, \"tier\": \"fast\"}," \
  "  {\"when\": {\"label\": {\"user\": \"vip\"}}, \"tier\": \"big\"}," \
  "  {\"when\": {\"variable\": {\"plan\": \"pro\", \"seats\": 5}}, \"tier\": \"fast\"}]," \
  "\"default\": \"cheap\""

static void
set_message (SluiceContext *context,
             const char    *content)
{
  g_autoptr(JsonArray) messages = json_array_new ();
  JsonObject *message = json_object_new ();

  json_object_set_string_member (message, "role", "user");
  json_object_set_string_member (message, "content", content);
  json_array_add_object_element (messages, message);
  sluice_context_set_messages (context, messages);
}

static void
test_route_rules (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (ROUTE_TARGETS, -1);
  g_autoptr(SluiceFallbackPolicy) policy = load_policy ("route", "{" ROUTE_RULES "}", targets);
  g_autofree char *long_text = g_strnfill (4004, 'x');
  g_autofree char *short_text = g_strnfill (4000, 'x');

  {
    g_autoptr(SluiceContext) context = make_context (NULL);

    set_message (context, "hello");
    g_assert_cmpint (first (policy, context, targets), ==, 0);
    set_message (context, long_text);   /* 1001 tokens by bytes / 4 */
    g_assert_cmpint (first (policy, context, targets), ==, 2);
    set_message (context, short_text);  /* 1000: not over */
    g_assert_cmpint (first (policy, context, targets), ==, 0);
    set_message (context, "please answer this Urgent question");
    g_assert_cmpint (first (policy, context, targets), ==, 3);
    set_message (context, "urgently, ASAP");
    g_assert_cmpint (first (policy, context, targets), ==, 3);
    set_message (context, "urg ent");
    g_assert_cmpint (first (policy, context, targets), ==, 0);
    sluice_context_set_label (context, "user", "vip");
    g_assert_cmpint (first (policy, context, targets), ==, 2);
    sluice_context_set_label (context, "user", "regular");
    g_assert_cmpint (first (policy, context, targets), ==, 0);
  }
  {
    /* The input_tokens variable wins over the messages' size. */
    g_autoptr(SluiceContext) over = make_context ("{\"input_tokens\": 5000}");
    g_autoptr(SluiceContext) under = make_context ("{\"input_tokens\": 10}");

    set_message (over, "hi");
    set_message (under, long_text);
    g_assert_cmpint (first (policy, over, targets), ==, 2);
    g_assert_cmpint (first (policy, under, targets), ==, 0);
  }
  {
    /* Every variable named must match, compared as text. */
    g_autoptr(SluiceContext) pro = make_context ("{\"plan\": \"pro\", \"seats\": 5}");
    g_autoptr(SluiceContext) text = make_context ("{\"plan\": \"pro\", \"seats\": \"5\"}");
    g_autoptr(SluiceContext) partial = make_context ("{\"plan\": \"pro\"}");

    g_assert_cmpint (first (policy, pro, targets), ==, 3);
    g_assert_cmpint (first (policy, text, targets), ==, 3);
    g_assert_cmpint (first (policy, partial, targets), ==, 0);
  }
}

static void
test_route_spill (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (ROUTE_TARGETS, -1);
  g_autoptr(SluiceTargetSet) cheap_open = make_targets (ROUTE_TARGETS, 0, 1, -1);
  g_autoptr(SluiceFallbackPolicy) spill = load_policy ("route", "{" ROUTE_RULES "}", targets);
  g_autoptr(SluiceFallbackPolicy) no_spill = load_policy ("route", "{" ROUTE_RULES ", \"spill\": false}", targets);
  g_autoptr(SluiceContext) context = make_context (NULL);
  g_autoptr(SluiceContext) big = make_context ("{\"input_tokens\": 5000}");

  /* Within the tier: chain order. */
  g_assert_cmpint (next_after (spill, context, targets, 0, SLUICE_ERROR_AUTH), ==, 1);
  g_assert_cmpint (next_after (no_spill, context, targets, 0, SLUICE_ERROR_AUTH), ==, 1);
  /* The tier spent: the others in list order, or nothing. */
  g_assert_cmpint (next_after (spill, context, targets, 1, SLUICE_ERROR_AUTH), ==, 2);
  g_assert_cmpint (next_after (spill, context, targets, 2, SLUICE_ERROR_AUTH), ==, 3);
  g_assert_cmpint (next_after (no_spill, context, targets, 1, SLUICE_ERROR_AUTH), ==, -1);
  g_assert_cmpint (next_after (spill, big, targets, 2, SLUICE_ERROR_AUTH), ==, 0);
  g_assert_cmpint (next_after (no_spill, big, targets, 2, SLUICE_ERROR_AUTH), ==, -1);
  /* Chain rules hold within it: content_filter wants another provider. */
  g_assert_cmpint (next_after (spill, big, targets, 2, SLUICE_ERROR_CONTENT_FILTER), ==, 0);
  g_assert_cmpint (next_after (spill, context, targets, 0, SLUICE_ERROR_CONTENT_FILTER), ==, 1);
  g_assert_cmpint (next_after (spill, context, targets, 1, SLUICE_ERROR_CONTENT_FILTER), ==, 2);
  /* A tier behind open breakers: straight to the others, if allowed. */
  g_assert_cmpint (first (spill, context, cheap_open), ==, 2);
  g_assert_cmpint (first (no_spill, context, cheap_open), ==, -1);
}

static void
test_route_no_default (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (ROUTE_TARGETS, -1);
  g_autoptr(SluiceFallbackPolicy) policy = load_policy (
    "route", "{\"rules\": [{\"when\": {\"keywords\": [\"draw\"]}, \"tier\": \"big\"}], \"spill\": false}", targets);
  g_autoptr(SluiceContext) context = make_context (NULL);

  /* No rule matches and no default: every target in list order. */
  g_assert_cmpint (first (policy, context, targets), ==, 0);
  g_assert_cmpint (next_after (policy, context, targets, 1, SLUICE_ERROR_AUTH), ==, 2);
  set_message (context, "Draw me a sheep");
  g_assert_cmpint (first (policy, context, targets), ==, 2);
}

static void
test_route_unknown_tier (void)
{
  g_autoptr(SluiceTargetSet) targets = make_targets (ROUTE_TARGETS, -1);
  const char *configs[][2] = {
    { "{\"rules\": [{\"when\": {}, \"tier\": \"huge\"}], \"default\": \"cheap\"}", "rules/0/tier: tier 'huge'" },
    { "{\"default\": \"premium\"}", "default: tier 'premium'" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (configs); i++)
    {
      g_autoptr(GObject) policy = sluice_engine_create (engine, "policy", "route", NULL);
      g_autoptr(JsonNode) config = parse (configs[i][0]);
      g_autoptr(GError) error = NULL;

      /* The schema cannot know the targets: configure says it. */
      g_assert_true (sluice_engine_check_config (engine, "policy", "route", config, NULL));
      g_assert_false (sluice_fallback_policy_configure (SLUICE_FALLBACK_POLICY (policy),
                                                        json_node_get_object (config), targets, &error));
      g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG);
      sluice_test_assert_contains (error->message, configs[i][1]);
      sluice_test_assert_contains (error->message, "tiers: cheap, big, fast");
    }
}

/* ---- schemas -------------------------------------------------------------------- */

static void
test_schemas (void)
{
  const char *names[] = { "chain", "weighted", "least-latency", "route" };
  const char *bad[] = {
    "{\"fallback_on\": [\"timeout\"], \"retry\": 1}",
    "{\"seed\": 1, \"weights\": [1]}",
    "{\"window\": 5}",
    "{\"default\": \"cheap\", \"rulez\": []}",
  };
  const char *more_bad[] = {
    "{\"rate_limited\": \"sleep\"}",
    "{\"seed\": \"one\"}",
    "{\"seed\": 1}",
    "{\"rules\": [{\"when\": {\"tokens_over\": 5}, \"tier\": \"cheap\"}]}",
  };
  g_auto(GStrv) listed = sluice_engine_list_plugins (engine, "policy");

  g_assert_cmpuint (g_strv_length (listed), ==, 4);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autoptr(JsonNode) config = parse (bad[i]);
      g_autoptr(JsonNode) more = parse (more_bad[i]);
      g_autoptr(GError) error = NULL;

      g_assert_true (g_strv_contains ((const char * const *) listed, names[i]));
      g_assert_true (sluice_engine_check_config (engine, "policy", names[i], NULL, NULL));
      g_assert_false (sluice_engine_check_config (engine, "policy", names[i], config, &error));
      g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_CONFIG);
      g_assert_false (sluice_engine_check_config (engine, "policy", names[i], more, NULL));
    }
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  engine = sluice_engine_new ();

  g_test_add_func ("/policies/chain/order", test_chain_order);
  g_test_add_func ("/policies/chain/kinds", test_chain_kinds);
  g_test_add_func ("/policies/chain/rate-limited", test_chain_rate_limited);
  g_test_add_func ("/policies/chain/context-overflow", test_chain_context_overflow);
  g_test_add_func ("/policies/chain/content-filter", test_chain_content_filter);
  g_test_add_func ("/policies/chain/open-breaker", test_chain_open_breaker);
  g_test_add_func ("/policies/chain/fallback-on", test_chain_fallback_on);
  g_test_add_func ("/policies/chain/hedge", test_chain_hedge);
  g_test_add_func ("/policies/chain/bad-config", test_chain_bad_config);
  g_test_add_func ("/policies/weighted/shares", test_weighted_shares);
  g_test_add_func ("/policies/weighted/after-failure", test_weighted_after_failure);
  g_test_add_func ("/policies/least-latency", test_least_latency);
  g_test_add_func ("/policies/route/rules", test_route_rules);
  g_test_add_func ("/policies/route/spill", test_route_spill);
  g_test_add_func ("/policies/route/no-default", test_route_no_default);
  g_test_add_func ("/policies/route/unknown-tier", test_route_unknown_tier);
  g_test_add_func ("/policies/schemas", test_schemas);

  status = g_test_run ();
  g_object_unref (engine);
  return status;
}
