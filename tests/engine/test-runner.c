/* test-runner.c — the runner's verdicts, complete order and results.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-util.h"

static SluiceEngine *engine;

/* The trace the verdict stages left, joined by spaces. */
static char *
trace_of (SluiceContext *context)
{
  JsonArray *trace = json_object_get_array_member (sluice_context_get_variables (context), "trace");
  GString *text = g_string_new (NULL);

  for (guint i = 0; i < json_array_get_length (trace); i++)
    g_string_append_printf (text, "%s%s", i > 0 ? " " : "", json_array_get_string_element (trace, i));
  return g_string_free (text, FALSE);
}

static void
test_continue_then_complete_in_reverse (void)
{
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine,
    "name: t\n"
    "stages:\n"
    "  - verdict: {tag: a}\n"
    "  - verdict: {tag: b, output: {answer: 42}}\n"
    "  - verdict: {tag: c}\n");
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{}");
  g_autofree char *trace = trace_of (context);
  g_autoptr(JsonNode) result = sluice_context_dup_result (context);
  g_autofree char *json = sluice_json_to_string (result);

  g_assert_cmpstr (trace, ==, "a b c ~c ~b ~a");
  g_assert_null (sluice_context_get_error (context));
  g_assert_cmpstr (json, ==, "{\"answer\":42}");
  g_assert_cmpstr (sluice_context_get_label (context, "pipeline"), ==, "t");
  g_assert_true (json_object_has_member (sluice_context_get_timings (context), "verdict"));
}

static void
test_respond_short_circuits (void)
{
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine,
    "name: t\n"
    "stages:\n"
    "  - verdict: {tag: a}\n"
    "  - verdict: {tag: hit, verdict: respond, output: [1, 2]}\n"
    "  - verdict: {tag: never}\n");
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{}");
  g_autofree char *trace = trace_of (context);
  g_autoptr(JsonNode) result = sluice_context_dup_result (context);
  g_autofree char *json = sluice_json_to_string (result);

  /* The skipped stage still completes: complete() sees every request. */
  g_assert_cmpstr (trace, ==, "a hit ~never ~hit ~a");
  g_assert_cmpstr (json, ==, "[1,2]");
}

/* An early answer skips up to the last call/parse/validate and runs the
 * stages after it, which shape the output (format, say). */
static void
test_respond_runs_stages_after_the_answer (void)
{
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine,
    "name: t\n"
    "output: {type: array}\n"
    "stages:\n"
    "  - verdict: {tag: hit, verdict: respond, output: [1, 2]}\n"
    "  - verdict: {tag: skipped}\n"
    "  - validate: {}\n"
    "  - verdict: {tag: shape}\n");
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{}");
  g_autofree char *trace = trace_of (context);

  g_assert_cmpstr (trace, ==, "hit shape ~shape ~skipped ~hit");
}

static void
test_rerun_is_bounded (void)
{
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine,
    "name: t\n"
    "max_reruns: 2\n"
    "stages:\n"
    "  - verdict: {tag: a}\n"
    "  - verdict: {tag: b}\n"
    "  - verdict: {tag: c, verdict: rerun, rerun_from: verdict}\n");
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{}");
  g_autofree char *trace = trace_of (context);
  const GError *error = sluice_context_get_error (context);

  /* rerun_from names the first 'verdict' stage: a b c, twice more, then the limit */
  g_assert_cmpstr (trace, ==, "a b c a b c a b c ~c ~b ~a");
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_RERUN_LIMIT);
  g_assert_cmpuint (sluice_context_get_n_reruns (context), ==, 2);
}

static void
test_rerun_then_succeeds (void)
{
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine,
    "name: t\n"
    "stages:\n"
    "  - verdict: {tag: a}\n"
    "  - verdict: {tag: b, verdict: rerun, rerun_from: verdict, until_reruns: 1, output: {ok: true}}\n");
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{}");
  g_autofree char *trace = trace_of (context);

  g_assert_cmpstr (trace, ==, "a b a b ~b ~a");
  g_assert_null (sluice_context_get_error (context));
}

static void
test_fail_gives_structured_error (void)
{
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine,
    "name: t\n"
    "stages:\n"
    "  - verdict: {tag: a}\n"
    "  - verdict: {tag: boom, verdict: fail}\n"
    "  - verdict: {tag: never}\n");
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{}");
  g_autofree char *trace = trace_of (context);
  g_autoptr(JsonNode) result = sluice_context_dup_result (context);
  JsonObject *error;

  g_assert_cmpstr (trace, ==, "a boom ~never ~boom ~a");
  g_assert_true (JSON_NODE_HOLDS_OBJECT (result));
  error = json_object_get_object_member (json_node_get_object (result), "error");
  g_assert_nonnull (error);
  g_assert_cmpstr (json_object_get_string_member (error, "kind"), ==, "validation");
  g_assert_cmpstr (json_object_get_string_member (error, "message"), ==, "stage boom failed on purpose");
  g_assert_cmpstr (json_object_get_string_member (error, "stage"), ==, "verdict");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (error, "attempts")), ==, 0);
}

static void
test_fail_without_error_is_still_an_error (void)
{
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine,
    "name: t\n"
    "stages:\n"
    "  - verdict: {tag: quiet, verdict: fail-silently}\n");
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{}");
  const GError *error = sluice_context_get_error (context);

  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "without an error"));
}

static void
test_failing_complete_fails_the_request (void)
{
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine,
    "name: t\n"
    "stages:\n"
    "  - verdict: {tag: a, fail_complete: true}\n"
    "  - verdict: {tag: b, output: 1}\n");
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{}");
  g_autofree char *trace = trace_of (context);

  g_assert_cmpstr (trace, ==, "a b ~b ~a");
  g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_FAILED);
}

static void
test_preset_error_runs_only_complete (void)
{
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine,
    "name: t\n"
    "stages:\n"
    "  - verdict: {tag: a}\n"
    "  - verdict: {tag: b}\n");
  g_autoptr(JsonNode) input = json_node_new (JSON_NODE_NULL);
  g_autoptr(SluiceContext) context = sluice_context_new (input);
  g_autoptr(GError) preset = g_error_new_literal (SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT, "line 3 is not JSON");
  g_autofree char *trace = NULL;

  sluice_context_set_error (context, preset, "batch");
  /* the trace lives in the variables; an input that is not an object has none */
  json_object_set_array_member (sluice_context_get_variables (context), "trace", json_array_new ());
  sluice_test_run_context (pipeline, context);
  trace = trace_of (context);
  g_assert_cmpstr (trace, ==, "~b ~a");
  g_assert_error (sluice_context_get_error (context), SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT);
}

static void
test_input_schema (void)
{
  g_autoptr(SluicePipeline) pipeline = sluice_test_load_pipeline (engine,
    "name: t\n"
    "input: {type: object, required: [text], properties: {text: {type: string, maxLength: 5}}}\n"
    "stages:\n"
    "  - validate-input: {}\n"
    "  - verdict: {tag: after}\n");
  g_autoptr(SluiceContext) ok = sluice_test_run (pipeline, "{\"text\": \"hi\"}");
  g_autoptr(SluiceContext) missing = sluice_test_run (pipeline, "{\"txt\": \"hi\"}");
  g_autoptr(SluiceContext) too_long = sluice_test_run (pipeline, "{\"text\": \"secret-value\"}");

  g_assert_null (sluice_context_get_error (ok));
  g_assert_error (sluice_context_get_error (missing), SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (sluice_context_get_error (missing)->message, "missing required property 'text'"));
  g_assert_error (sluice_context_get_error (too_long), SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT);
  g_assert_nonnull (strstr (sluice_context_get_error (too_long)->message, "/text"));
  /* the input's value is never echoed */
  g_assert_null (strstr (sluice_context_get_error (too_long)->message, "secret-value"));
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  engine = sluice_engine_new ();

  g_test_add_func ("/runner/continue-and-complete-order", test_continue_then_complete_in_reverse);
  g_test_add_func ("/runner/respond", test_respond_short_circuits);
  g_test_add_func ("/runner/respond-runs-stages-after-the-answer", test_respond_runs_stages_after_the_answer);
  g_test_add_func ("/runner/rerun-bounded", test_rerun_is_bounded);
  g_test_add_func ("/runner/rerun-then-succeeds", test_rerun_then_succeeds);
  g_test_add_func ("/runner/fail", test_fail_gives_structured_error);
  g_test_add_func ("/runner/fail-without-error", test_fail_without_error_is_still_an_error);
  g_test_add_func ("/runner/failing-complete", test_failing_complete_fails_the_request);
  g_test_add_func ("/runner/preset-error", test_preset_error_runs_only_complete);
  g_test_add_func ("/runner/input-schema", test_input_schema);

  status = g_test_run ();
  g_object_unref (engine);
  return status;
}
