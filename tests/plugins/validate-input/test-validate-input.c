/* test-validate-input.c — the validate-input stage: every violation (up
 * to five) named by its JSON Pointer, never a value of the input, the
 * request stopped before the stages after it, and its place in the
 * pipeline checked when the pipeline loads.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-provider.h"

#include <string.h>

static SluiceEngine *engine;

#define SCHEMA \
  "input:\n" \
  "  type: object\n" \
  "  required: [text, lang]\n" \
  "  additionalProperties: false\n" \
  "  properties:\n" \
  "    text: {type: string, minLength: 1, maxLength: 10}\n" \
  "    lang: {enum: [en, fr]}\n" \
  "    tags: {type: array, items: {type: string, pattern: \"^[a-z]+$\"}}\n" \
  "    \"a/b\": {type: integer}\n" \
  "    meta: {type: object, properties: {score: {type: number, maximum: 1}}}\n"

static SluicePipeline *
load (void)
{
  return sluice_test_load_pipeline (engine,
                                    "name: t\n" SCHEMA
                                    "stages:\n"
                                    "  - validate-input: {}\n"
                                    "  - verdict: {tag: after, output: reached}\n");
}

static const char *
error_message (SluiceContext *context)
{
  const GError *error = sluice_context_get_error (context);

  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT);
  g_assert_cmpstr (sluice_context_get_error_stage (context), ==, "validate-input");
  return error->message;
}

static void
test_valid (void)
{
  g_autoptr(SluicePipeline) pipeline = load ();
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline, "{\"text\": \"hi\", \"lang\": \"en\"}");
  g_autoptr(JsonNode) result = sluice_context_dup_result (context);

  g_assert_no_error (sluice_context_get_error (context));
  sluice_test_assert_json (result, "\"reached\"");
}

/* Every violation, each at its pointer (escaped as RFC 6901 says), in
 * one message; the stages after it never run. */
static void
test_every_violation (void)
{
  g_autoptr(SluicePipeline) pipeline = load ();
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline,
    "{\"lang\": \"de\", \"tags\": [\"ok\", \"Not-OK\"], \"a/b\": 1.5, \"meta\": {\"score\": 2}}");
  const char *message = error_message (context);

  g_assert_cmpstr (message, ==,
                   "input does not match its schema: /: missing required property 'text'; "
                   "/lang: value is not one of: en, fr; /tags/1: string does not match the pattern '^[a-z]+$'; "
                   "/a~1b: expected integer, got number; /meta/score: 2 is greater than the maximum 1");
  g_assert_null (sluice_context_get_output (context));      /* the verdict stage never ran */
}

/* More than five: the first five and a note that there are more. */
static void
test_limit (void)
{
  g_autoptr(SluicePipeline) pipeline = load ();
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline,
    "{\"text\": \"\", \"lang\": 1, \"tags\": [1, 2, 3, 4, 5, 6], \"x\": 0}");
  const char *message = error_message (context);

  g_assert_cmpstr (message, ==,
                   "input does not match its schema: /text: string is shorter than 1 character; "
                   "/lang: value is not one of: en, fr; /tags/0: expected string, got integer; "
                   "/tags/1: expected string, got integer; /tags/2: expected string, got integer; "
                   "and more (the first 5 are shown)");

  /* the error's details carry every violation apart, as data */
  {
    JsonArray *violations = json_object_get_array_member (sluice_context_get_error_details (context), "violations");
    g_autoptr(JsonNode) node = json_node_init_array (json_node_alloc (), violations);
    g_autofree char *text = sluice_json_to_string (node);

    g_test_message ("%s", text);
    g_assert_cmpuint (json_array_get_length (violations), ==, 9);
    g_assert_nonnull (strstr (text, "{\"instance_path\":\"/tags/5\",\"keyword_path\":\"/properties/tags/items/type\","
                                    "\"message\":\"expected string, got integer\"}"));
  }
}

/* No value of the input is quoted, whatever the keyword. */
static void
test_values_never_quoted (void)
{
  g_autoptr(SluicePipeline) pipeline = load ();
  g_autoptr(SluiceContext) context = sluice_test_run (pipeline,
    "{\"text\": \"sk-secret-value-123\", \"lang\": \"secret-lang\", \"tags\": [\"Secret-Tag\"]}");
  const char *message = error_message (context);
  g_autoptr(JsonNode) result = sluice_context_dup_result (context);
  g_autofree char *text = sluice_json_to_string (result);

  sluice_test_assert_contains (message, "/text: ");
  sluice_test_assert_contains (message, "/lang: ");
  sluice_test_assert_contains (message, "/tags/0: ");
  g_assert_null (strstr (text, "secret-value"));
  g_assert_null (strstr (text, "secret-lang"));
  g_assert_null (strstr (text, "Secret-Tag"));
}

static GError *
load_error (const char *yaml)
{
  g_autofree char *path = sluice_test_write_file ("p.yaml", yaml);
  g_autoptr(SluicePipeline) pipeline = NULL;
  GError *error = NULL;

  pipeline = sluice_pipeline_new_from_file (engine, path, &error);
  g_assert_null (pipeline);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_PIPELINE);
  return error;
}

/* Before anything else: only rate-limit and sanitize may go first. */
static void
test_place (void)
{
  g_autoptr(GError) late = load_error ("name: t\n" SCHEMA
                                       "stages:\n"
                                       "  - sanitize: {}\n"
                                       "  - assemble: {user: \"{{text}}\"}\n"
                                       "  - validate-input: {}\n");
  g_autoptr(GError) no_schema = load_error ("name: t\nstages:\n  - validate-input: {}\n");
  g_autoptr(SluicePipeline) guarded = sluice_test_load_pipeline (engine,
    "name: t\n" SCHEMA
    "stages:\n"
    "  - rate-limit: {requests_per_minute: 600}\n"
    "  - sanitize: {}\n"
    "  - validate-input: {}\n"
    "  - assemble: {user: \"{{text}}\"}\n");

  sluice_test_assert_contains (late->message,
                               "stage 'validate-input': must come before 'assemble' (stage 2): the input is "
                               "checked before anything uses it (only rate-limit and sanitize may go first)");
  sluice_test_assert_contains (no_schema->message, "the pipeline has no 'input' schema to validate against");
  g_assert_cmpuint (sluice_pipeline_get_n_stages (guarded), ==, 4);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, NULL);
  engine = sluice_engine_new ();

  g_test_add_func ("/validate-input/valid", test_valid);
  g_test_add_func ("/validate-input/every-violation", test_every_violation);
  g_test_add_func ("/validate-input/limit", test_limit);
  g_test_add_func ("/validate-input/values-never-quoted", test_values_never_quoted);
  g_test_add_func ("/validate-input/place", test_place);

  status = g_test_run ();
  g_object_unref (engine);
  return status;
}
