/* test-validate.c — the validate stage: what it reports, how much, and
 * the compliance it records. A `verdict` stage in front of it sets the
 * answer; for corrections, a call stage asks sluice-mock, whose scenario
 * gives the answers. The sentiment pipeline's corrections against the
 * mock's schema-breaking answers are in tests/integration/test-cli.c
 * (/cli/batch/corrections).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

#include <string.h>

static SluiceEngine *engine;

static SluiceContext *
run_answer (const char *schema,
            const char *answer)
{
  g_autofree char *yaml = g_strdup_printf ("name: t\n"
                                           "output: %s\n"
                                           "stages:\n"
                                           "  - verdict: {tag: a, output: %s}\n"
                                           "  - validate: {}\n",
                                           schema, answer);
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);

  return sluice_test_run (pipeline, "{}");
}

static void
test_valid (void)
{
  g_autoptr(SluiceContext) context = run_answer ("{type: object, required: [a]}", "{a: 1}");

  g_assert_no_error (sluice_context_get_error (context));
  g_assert_cmpint (sluice_context_get_compliance (context), ==, SLUICE_COMPLIANCE_VALID_FIRST_TRY);
  g_assert_cmpstr (sluice_compliance_to_string (sluice_context_get_compliance (context)), ==, "valid_first_try");
  g_assert_cmpuint (sluice_context_get_n_corrections (context, NULL), ==, 0);
}

/* Thirty violations: ten are shown, in the message and the error's
 * details, and "and more" says there were others; the answer is dropped. */
static void
test_violations_are_bounded (void)
{
  g_autoptr(GString) answer = g_string_new ("[");
  g_autoptr(SluiceContext) context = NULL;
  g_autoptr(JsonNode) result = NULL;
  JsonObject *error;
  JsonArray *violations;
  const char *raw;

  for (guint i = 0; i < 30; i++)
    g_string_append_printf (answer, "%sxxxxxxxxxxxxxxxxxxxxxxxxxxxxx%02u", i > 0 ? ", " : "", i);
  g_string_append (answer, "]");
  context = run_answer ("{type: array, items: {type: integer}}", answer->str);

  g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_VALIDATION);
  g_assert_cmpstr (sluice_context_get_error (context)->message, ==,
                   "the answer does not match the output schema: "
                   "/0: expected integer, got string; /1: expected integer, got string; "
                   "/2: expected integer, got string; /3: expected integer, got string; "
                   "/4: expected integer, got string; /5: expected integer, got string; "
                   "/6: expected integer, got string; /7: expected integer, got string; "
                   "/8: expected integer, got string; /9: expected integer, got string; and more");
  g_assert_cmpint (sluice_context_get_compliance (context), ==, SLUICE_COMPLIANCE_INVALID);
  g_assert_null (sluice_context_get_output (context));

  result = sluice_context_dup_result (context);
  error = json_object_get_object_member (json_node_get_object (result), "error");
  g_assert_cmpstr (json_object_get_string_member (error, "kind"), ==, "validation");
  violations = json_object_get_array_member (error, "violations");
  g_assert_cmpuint (json_array_get_length (violations), ==, 10);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (violations, 9), "instance_path"), ==, "/9");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (violations, 9), "keyword_path"), ==, "/items/type");
  /* With no provider answer, the excerpt is of the parsed answer: 500
   * characters and the mark of the cut. */
  raw = json_object_get_string_member (error, "raw_output");
  g_assert_cmpuint (g_utf8_strlen (raw, -1), ==, 501);
  g_assert_true (g_str_has_prefix (raw, "[\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxx00\",\""));
  g_assert_true (g_str_has_suffix (raw, "…"));
}

/* A violation's message or path longer than 300 characters is cut. */
static void
test_long_property_name_is_cut (void)
{
  g_autofree char *name = g_strnfill (1000, 'k');
  g_autofree char *answer = g_strdup_printf ("{%s: 1}", name);
  g_autoptr(SluiceContext) context = run_answer ("{type: object, additionalProperties: false}", answer);
  g_autoptr(JsonNode) result = sluice_context_dup_result (context);
  JsonObject *error = json_object_get_object_member (json_node_get_object (result), "error");
  JsonObject *violation = json_array_get_object_element (json_object_get_array_member (error, "violations"), 0);

  g_assert_cmpuint (g_utf8_strlen (json_object_get_string_member (violation, "instance_path"), -1), ==, 301);
  g_assert_cmpuint (g_utf8_strlen (json_object_get_string_member (violation, "message"), -1), <=, 301);
  g_assert_cmpuint (strlen (sluice_context_get_error (context)->message), <, 1000);
}

/* Corrections need a call stage: asked for explicitly without one is a
 * configuration error; the default (1) quietly asks nobody. */
static void
test_corrections_need_a_call_stage (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = sluice_test_write_file ("p.yaml",
    "name: t\n"
    "output: {type: object}\n"
    "stages:\n"
    "  - verdict: {tag: a, output: [1]}\n"
    "  - validate: {correction_retries: 1}\n");
  g_autoptr(SluicePipeline) pipeline = sluice_pipeline_new_from_file (engine, path, &error);
  g_autoptr(SluiceContext) context = NULL;

  g_assert_null (pipeline);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "correction_retries needs a call stage before validate"));

  context = run_answer ("{type: object}", "[1]");
  g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_VALIDATION);
  g_assert_cmpuint (sluice_context_get_n_reruns (context), ==, 0);
}

/* validate right after a call (no parse between) or before the parse
 * stage would fail every request after paying for it: refused at load. */
static void
test_needs_parse_before_it (void)
{
  static const char * const orders[] = {
    "  - call: {target: {provider: openai, model: m, api_key: k}}\n  - validate: {}\n",
    "  - call: {target: {provider: openai, model: m, api_key: k}}\n  - validate: {}\n  - parse: {}\n",
  };

  for (guint i = 0; i < G_N_ELEMENTS (orders); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *yaml = g_strconcat ("name: t\noutput: {type: object}\nstages:\n"
                                           "  - assemble: {user: hi}\n", orders[i], NULL);
      g_autofree char *path = sluice_test_write_file ("p.yaml", yaml);
      g_autoptr(SluicePipeline) pipeline = sluice_pipeline_new_from_file (engine, path, &error);

      g_assert_null (pipeline);
      g_assert_nonnull (strstr (error->message, "stage 'validate': needs a parse stage before it (it is stage 3)"));
    }
}

/* A pipeline that checks nothing records no compliance. */
static void
test_unchecked (void)
{
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine,
    "name: t\n"
    "stages:\n"
    "  - verdict: {tag: a, output: [1]}\n");
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{}");

  g_assert_cmpint (sluice_context_get_compliance (context), ==, SLUICE_COMPLIANCE_UNCHECKED);
  g_assert_null (sluice_compliance_to_string (sluice_context_get_compliance (context)));
}

/* A pipeline whose answers must be arrays of integers, asking the mock. */
static SluicePipeline *
mock_pipeline (const char *url,
               const char *validate_config,
               guint       max_reruns)
{
  g_autofree char *yaml = g_strdup_printf (
    "name: t\n"
    "max_reruns: %u\n"
    /* structured_output off: the bodies are the bare conversation */
    "output: {type: array, items: {type: integer}}\n"
    "stages:\n"
    "  - assemble: {user: \"{{text}}\"}\n"
    "  - call: {target: {provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\", api_key: k},\n"
    "           retry: {max_attempts: 1}, structured_output: off}\n"
    "  - parse: {}\n"
    "  - validate: %s\n",
    max_reruns, url, validate_config);

  return sluice_test_load_pipeline (engine, yaml);
}

static const char twelve_strings[] =
  "[\\\"a\\\", \\\"b\\\", \\\"c\\\", \\\"d\\\", \\\"e\\\", \\\"f\\\", \\\"g\\\", \\\"h\\\", \\\"i\\\", \\\"j\\\", \\\"k\\\", \\\"l\\\"]";

static gboolean
attempt_wasted (SluiceContext *context,
                guint          index)
{
  JsonObject *attempt = json_array_get_object_element (sluice_context_get_attempts (context), index);

  return json_object_get_boolean_member_with_default (attempt, "wasted", FALSE);
}

/* Twelve violations: the model is shown ten and told there are more,
 * after its own answer; the corrected answer is kept. */
static void
test_correction_is_bounded (void)
{
  g_autofree char *scenario = g_strdup_printf (
    "{\"rules\": [{\"match\": \"Your answer\", \"sequence\": [], \"then\": {\"kind\": \"ok\", \"content\": \"[1, 2]\"}},"
    "             {\"sequence\": [], \"then\": {\"kind\": \"ok\", \"content\": \"%s\"}}]}", twelve_strings);
  g_autofree char *scenario_path = sluice_test_write_file ("scenario.json", scenario);
  g_autofree char *url = sluice_test_mock_start ("--scenario", scenario_path, "--keep-requests", "4", NULL);
  g_autoptr(SluicePipeline) pipeline = mock_pipeline (url, "{}", 2);
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"count\"}");
  g_autoptr(JsonObject) kept = sluice_test_mock_get ("/mock/requests");
  JsonArray *requests = json_object_get_array_member (kept, "requests");
  g_autoptr(JsonNode) body = NULL;
  g_autoptr(JsonNode) result = NULL;
  g_autofree char *result_json = NULL;
  JsonArray *messages;
  GString *expected;

  g_assert_no_error (sluice_context_get_error (context));
  result = sluice_context_dup_result (context);
  result_json = sluice_json_to_string (result);
  g_assert_cmpstr (result_json, ==, "[1,2]");
  g_assert_cmpint (sluice_context_get_compliance (context), ==, SLUICE_COMPLIANCE_VALID_AFTER_CORRECTION);
  g_assert_cmpuint (sluice_context_get_n_corrections (context, "validate"), ==, 1);
  g_assert_cmpuint (sluice_context_get_n_corrections (context, NULL), ==, 1);
  g_assert_cmpuint (json_array_get_length (sluice_context_get_attempts (context)), ==, 2);
  g_assert_true (attempt_wasted (context, 0));
  g_assert_false (attempt_wasted (context, 1));

  g_assert_cmpuint (json_array_get_length (requests), ==, 2);
  body = sluice_json_from_string (json_object_get_string_member (json_array_get_object_element (requests, 1), "body"), -1, NULL);
  messages = json_object_get_array_member (json_node_get_object (body), "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 3);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 1), "role"), ==, "assistant");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 1), "content"), ==,
                   "[\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\", \"j\", \"k\", \"l\"]");
  expected = g_string_new ("Your answer does not satisfy the required JSON Schema:");
  for (guint i = 0; i < 10; i++)
    g_string_append_printf (expected, "\n- /%u: expected integer, got string", i);
  g_string_append (expected, "\n- (and more)\nReply again with only the corrected JSON.");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 2), "role"), ==, "user");
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (messages, 2), "content"), ==, expected->str);
  g_string_free (expected, TRUE);
  sluice_test_mock_stop ();
}

/* More corrections than max_reruns allows: the stage stops at the bound
 * and fails with the violations (a validation error, not rerun_limit);
 * every answer's tokens were wasted. */
static void
test_corrections_stop_at_max_reruns (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"sequence\": [], \"then\": {\"kind\": \"ok\", \"content\": \"[0.5]\"}}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = mock_pipeline (url, "{correction_retries: 5}", 2);
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"count\"}");
  g_autoptr(JsonObject) stats = sluice_test_mock_stats ();
  g_autoptr(JsonNode) result = sluice_context_dup_result (context);
  JsonObject *error = json_object_get_object_member (json_node_get_object (result), "error");

  g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_VALIDATION);
  g_assert_cmpstr (sluice_context_get_error (context)->message, ==,
                   "the answer does not match the output schema after 2 corrections: "
                   "/0: expected integer, got number");
  g_assert_cmpstr (json_object_get_string_member (error, "raw_output"), ==, "[0.5]");
  g_assert_cmpint (json_object_get_int_member (stats, "requests"), ==, 3);
  g_assert_cmpuint (sluice_context_get_n_reruns (context), ==, 2);
  g_assert_cmpint (sluice_context_get_compliance (context), ==, SLUICE_COMPLIANCE_INVALID);
  for (guint i = 0; i < 3; i++)
    g_assert_true (attempt_wasted (context, i));
  sluice_test_mock_stop ();
}

/* correction_retries: 0 fails at once. */
static void
test_no_corrections (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"sequence\": [], \"then\": {\"kind\": \"ok\", \"content\": \"[0.5]\"}}]}", NULL);
  g_autoptr(SluicePipeline) pipeline = mock_pipeline (url, "{correction_retries: 0}", 2);
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"count\"}");

  g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_VALIDATION);
  g_assert_cmpstr (sluice_context_get_error (context)->message, ==,
                   "the answer does not match the output schema: /0: expected integer, got number");
  g_assert_cmpuint (json_array_get_length (sluice_context_get_attempts (context)), ==, 1);
  g_assert_true (attempt_wasted (context, 0));
  g_assert_cmpstr (sluice_json_get_string (sluice_context_get_error_details (context), "raw_output"), ==, "[0.5]");

  /* error_excerpt: 0 quotes nothing of the answer; the violations stay */
  {
    g_autoptr(SluicePipeline) quiet = mock_pipeline (url, "{correction_retries: 0, error_excerpt: 0}", 2);
    g_autoptr(SluiceContext) quiet_context = sluice_test_run (quiet, "{\"text\": \"count\"}");
    JsonObject *details = sluice_context_get_error_details (quiet_context);

    g_assert_false (json_object_has_member (details, "raw_output"));
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (details, "violations")), ==, 1);
  }
  sluice_test_mock_stop ();
}

/* A correction the call stage's retry budget does not allow (the
 * rejected answer's tokens already pass its wasted_tokens) fails as
 * budget_exceeded, with no request sent for it. */
static void
test_correction_within_retry_budget (void)
{
  g_autofree char *url = sluice_test_mock_start_scenario (
    "{\"rules\": [{\"sequence\": [], \"then\": {\"kind\": \"ok\", \"content\": \"[0.5]\"}}]}", NULL);
  g_autofree char *yaml = g_strdup_printf (
    "name: t\n"
    "output: {type: array, items: {type: integer}}\n"
    "stages:\n"
    "  - assemble: {user: \"{{text}}\"}\n"
    "  - call: {target: {provider: openai, model: gpt-4o-mini, base_url: \"%s/v1\", api_key: k},\n"
    "           retry: {max_attempts: 1, budget: {wasted_tokens: 1}}, structured_output: off}\n"
    "  - parse: {}\n"
    "  - validate: {}\n", url);
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine, yaml);
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"count\"}");
  g_autoptr(JsonObject) stats = sluice_test_mock_stats ();

  g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_BUDGET_EXCEEDED);
  sluice_test_assert_contains (sluice_context_get_error (context)->message,
                               "no attempt made: ");
  sluice_test_assert_contains (sluice_context_get_error (context)->message,
                               "tokens already wasted, more than the retry budget's 1");
  g_assert_cmpint (json_object_get_int_member (stats, "requests"), ==, 1);
  sluice_test_mock_stop ();
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  engine = sluice_engine_new ();

  g_test_add_func ("/validate/valid", test_valid);
  g_test_add_func ("/validate/violations-bounded", test_violations_are_bounded);
  g_test_add_func ("/validate/long-name-cut", test_long_property_name_is_cut);
  g_test_add_func ("/validate/corrections-need-call", test_corrections_need_a_call_stage);
  g_test_add_func ("/validate/unchecked", test_unchecked);
  g_test_add_func ("/validate/correction-within-retry-budget", test_correction_within_retry_budget);
  g_test_add_func ("/validate/needs-parse-before-it", test_needs_parse_before_it);
  g_test_add_func ("/validate/correction-bounded", test_correction_is_bounded);
  g_test_add_func ("/validate/corrections-stop-at-max-reruns", test_corrections_stop_at_max_reruns);
  g_test_add_func ("/validate/no-corrections", test_no_corrections);

  status = g_test_run ();
  g_object_unref (engine);
  return status;
}
