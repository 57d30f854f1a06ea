/* test-pipeline-file.c — pipeline files: every error with its position.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-util.h"

static SluiceEngine *engine;

static char *
load_error (const char *name,
            const char *contents)
{
  g_autofree char *path = sluice_test_write_file (name, contents);
  g_autoptr(GError) error = NULL;
  g_autoptr(SluicePipeline) pipeline = sluice_pipeline_new_from_file (engine, path, &error);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr(GString) text = NULL;

  g_assert_null (pipeline);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_PIPELINE);
  /* Positions are asserted relative to the file name. */
  text = g_string_new (error->message);
  g_string_replace (text, dir, "DIR", 0);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

static void
test_several_errors_with_positions (void)
{
  g_autofree char *message = load_error ("p.yaml",
    "name: demo\n"
    "descripton: typo\n"
    "stages:\n"
    "  - assemble: {system: 1, usr: x}\n"
    "  - asemble: {}\n"
    "  - parse:\n"
    "      format: xml\n"
    "  - validate: {correction_retries: two}\n");

  g_assert_cmpstr (message, ==,
    "DIR/p.yaml:2:1: error: descripton: unknown property 'descripton'; did you mean 'description'?\n"
    "DIR/p.yaml:4:16: error: stages[0].assemble.system: expected string, got integer\n"
    "DIR/p.yaml:4:27: error: stages[0].assemble.usr: unknown property 'usr'; did you mean 'user'?\n"
    "DIR/p.yaml:5:5: error: unknown stage 'asemble'; did you mean 'assemble'? "
      "(known: assemble, cache, call, context-check, format, log, parse, rate-limit, sanitize, token-count, validate, validate-input, verdict)\n"
    "DIR/p.yaml:7:7: error: stages[2].parse.format: value is not one of: json\n"
    "DIR/p.yaml:8:16: error: stages[3].validate.correction_retries: expected integer, got string");
}

static void
test_unknown_stage_lists_known (void)
{
  g_autofree char *message = load_error ("p.yaml", "name: x\nstages:\n  - frobnicate: {}\n");

  g_assert_cmpstr (message, ==,
    "DIR/p.yaml:3:5: error: unknown stage 'frobnicate' "
    "(known: assemble, cache, call, context-check, format, log, parse, rate-limit, sanitize, token-count, validate, validate-input, verdict)");
}

static void
test_json_file_positions (void)
{
  g_autofree char *message = load_error ("p.json",
    "{\n"
    "  \"name\": \"x\",\n"
    "  \"stages\": [\n"
    "    {\"verdict\": {\"tag\": 5}}\n"
    "  ]\n"
    "}\n");

  g_assert_cmpstr (message, ==, "DIR/p.json:4:18: error: stages[0].verdict.tag: expected string, got integer");
}

static void
test_invalid_yaml (void)
{
  g_autofree char *message = load_error ("p.yaml", "name: x\nstages: [\n  - {a: b\n");

  g_assert_true (g_str_has_prefix (message, "DIR/p.yaml:"));
  g_assert_nonnull (strstr (message, "error:"));
}

static void
test_missing_file (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(SluicePipeline) pipeline =
    sluice_pipeline_new_from_file (engine, "/nonexistent/p.yaml", &error);

  g_assert_null (pipeline);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_PIPELINE);
  g_assert_nonnull (strstr (error->message, "/nonexistent/p.yaml"));
}

static void
test_missing_required_and_empty_stages (void)
{
  g_autofree char *message = load_error ("p.yaml", "description: no name\nstages: []\n");

  g_assert_nonnull (strstr (message, "missing required property 'name'"));
  g_assert_nonnull (strstr (message, "DIR/p.yaml:2:1: error: stages: "));
}

static void
test_unset_environment_variable (void)
{
  g_autofree char *message = NULL;

  g_unsetenv ("SLUICE_TEST_UNSET_VARIABLE");
  message = load_error ("p.yaml",
    "name: x\n"
    "stages:\n"
    "  - verdict: {tag: \"${SLUICE_TEST_UNSET_VARIABLE}\"}\n");
  g_assert_nonnull (strstr (message, "DIR/p.yaml:3:20: error: "));
  g_assert_nonnull (strstr (message, "SLUICE_TEST_UNSET_VARIABLE is not set"));
}

static void
test_environment_defaults_and_types (void)
{
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(SluiceContext) context = NULL;
  g_autoptr(JsonNode) result = NULL;
  g_autofree char *json = NULL;

  g_setenv ("SLUICE_TEST_TAG", "from-env", TRUE);
  pipeline = sluice_test_load_pipeline (engine,
    "name: x\n"
    "max_reruns: ${SLUICE_TEST_RERUNS:-3}\n"
    "stages:\n"
    "  - verdict: {tag: \"${SLUICE_TEST_TAG}\", output: \"${SLUICE_TEST_MISSING:-fallback}\"}\n");
  context = sluice_test_run (pipeline, "{}");
  result = sluice_context_dup_result (context);
  json = sluice_json_to_string (result);
  g_assert_cmpstr (json, ==, "\"fallback\"");
  g_assert_cmpstr (json_array_get_string_element (
    json_object_get_array_member (sluice_context_get_variables (context), "trace"), 0), ==, "from-env");
}

static void
test_broken_output_schema (void)
{
  g_autofree char *message = load_error ("p.yaml",
    "name: x\n"
    "output: {type: objekt}\n"
    "stages:\n"
    "  - verdict: {tag: a}\n");

  g_assert_true (g_str_has_prefix (message, "DIR/p.yaml:2:10: error: invalid schema: /type: unknown type 'objekt'"));
}

static void
test_nested_plugins_reported_with_the_rest (void)
{
  g_autofree char *message = load_error ("p.yaml",
    "name: broken\n"
    "descripton: typo\n"
    "input: {type: object, properties: {text: {type: strin}}}\n"
    "stages:\n"
    "  - call:\n"
    "      target: {provider: opnai, model: m, api_key: k}\n"
    "  - parse: {format: xml}\n"
    "  - log: {sinks: [postgres, {sqlite: {pth: x}}]}\n");

  g_assert_cmpstr (message, ==,
    "DIR/p.yaml:2:1: error: descripton: unknown property 'descripton'; did you mean 'description'?\n"
    "DIR/p.yaml:3:43: error: invalid schema: /properties/text/type: unknown type 'strin' "
      "(expected null, boolean, object, array, number, string or integer)\n"
    "DIR/p.yaml:7:13: error: stages[1].parse.format: value is not one of: json\n"
    "DIR/p.yaml:5:5: error: stage 'call': unknown provider 'opnai'; did you mean 'openai'? (known: anthropic, gemini, openai, openai-compatible)\n"
    "DIR/p.yaml:8:5: error: stage 'log': sink 'postgres' is planned but not part of this release (available: jsonl, metrics, sqlite)");
}

static void
test_sink_configuration_is_checked (void)
{
  g_autofree char *message = load_error ("p.yaml",
    "name: s\n"
    "stages:\n"
    "  - log: {sinks: [{sqlite: {pth: x}}]}\n");

  g_assert_cmpstr (message, ==,
    "DIR/p.yaml:3:5: error: stage 'log': sink 'sqlite': /pth: unknown property 'pth'; did you mean 'path'?");
}

static void
test_environment_values_never_quoted (void)
{
  g_autofree char *message = NULL;

  g_setenv ("SLUICE_TEST_PROVIDER", "sk-test-NEVER-SHOWN-1234", TRUE);
  g_setenv ("SLUICE_TEST_SINK", "sk-test-never-shown-5678", TRUE);
  message = load_error ("p.yaml",
    "name: s\n"
    "stages:\n"
    "  - call:\n"
    "      target: {provider: \"${SLUICE_TEST_PROVIDER}\", model: m, api_key: k}\n"
    "  - log: {sinks: [\"${SLUICE_TEST_SINK}\"]}\n");

  g_assert_cmpstr (message, ==,
    "DIR/p.yaml:3:5: error: stage 'call': unknown provider '[a value from the environment]' (known: anthropic, gemini, openai, openai-compatible)\n"
    "DIR/p.yaml:5:5: error: stage 'log': unknown sink '[a value from the environment]' (known: jsonl, metrics, sqlite)");
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  engine = sluice_engine_new ();

  g_test_add_func ("/pipeline-file/several-errors", test_several_errors_with_positions);
  g_test_add_func ("/pipeline-file/unknown-stage", test_unknown_stage_lists_known);
  g_test_add_func ("/pipeline-file/json-positions", test_json_file_positions);
  g_test_add_func ("/pipeline-file/invalid-yaml", test_invalid_yaml);
  g_test_add_func ("/pipeline-file/missing-file", test_missing_file);
  g_test_add_func ("/pipeline-file/missing-required", test_missing_required_and_empty_stages);
  g_test_add_func ("/pipeline-file/unset-env", test_unset_environment_variable);
  g_test_add_func ("/pipeline-file/env-defaults", test_environment_defaults_and_types);
  g_test_add_func ("/pipeline-file/broken-output-schema", test_broken_output_schema);
  g_test_add_func ("/pipeline-file/nested-plugins", test_nested_plugins_reported_with_the_rest);
  g_test_add_func ("/pipeline-file/sink-configuration", test_sink_configuration_is_checked);
  g_test_add_func ("/pipeline-file/environment-values-never-quoted", test_environment_values_never_quoted);

  status = g_test_run ();
  g_object_unref (engine);
  return status;
}
