/* test-format.c — the format stage, end to end: the real `sluice`
 * executable (SLUICE_CLI) against sluice-mock, whose scenario answers
 * each input with a known JSON text. `sluice run` prints the formatted
 * text as it is (a projection as JSON), each `sluice batch` line keeps
 * its structured output and adds "formatted", CSV escaping follows
 * RFC 4180 exactly, and `sluice check` warns about names the output
 * schema lacks and refuses a format stage before validate.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-test-util.h"

#include <glib/gstdio.h>
#include <string.h>

static char *dir;        /* the test's folder: pipelines, scenario, state */
static char *mock_url;

/* The mock's answers, picked by a word of the input text. */
#define SCENARIO \
  "{\"rules\": [" \
  "  {\"match\": \"quotes-case\", \"then\": {\"kind\": \"ok\", \"content\": " \
  "     \"{\\\"sentiment\\\": \\\"negative\\\", \\\"confidence\\\": 0.25, " \
  "       \\\"reasoning\\\": \\\"He said \\\\\\\"no\\\\\\\", twice\\\\nthen <left>\\\", " \
  "       \\\"detail\\\": {\\\"lang\\\": \\\"en\\\"}}\"}}," \
  "  {\"match\": \"plain-case\", \"then\": {\"kind\": \"ok\", \"content\": " \
  "     \"{\\\"sentiment\\\": \\\"positive\\\", \\\"confidence\\\": 0.9, \\\"reasoning\\\": \\\"loved it\\\"}\"}}," \
  "  {\"match\": \"broken-case\", \"then\": {\"kind\": \"ok\", \"content\": \"{\\\"sentiment\\\": 42}\"}}" \
  "]}"

#define HEAD \
  "name: format-test\n" \
  "input:\n" \
  "  type: object\n" \
  "  required: [text]\n" \
  "  properties: {text: {type: string}}\n" \
  "output:\n" \
  "  type: object\n" \
  "  required: [sentiment, confidence, reasoning]\n" \
  "  additionalProperties: false\n" \
  "  properties:\n" \
  "    sentiment: {enum: [positive, negative, neutral]}\n" \
  "    confidence: {type: number}\n" \
  "    reasoning: {type: string}\n" \
  "    detail: {type: object, properties: {lang: {type: string}}}\n" \
  "stages:\n" \
  "  - assemble: {user: \"{{text}}\"}\n" \
  "  - call:\n" \
  "      target:\n" \
  "        provider: openai\n" \
  "        model: gpt-4o-mini\n" \
  "        base_url: ${SLUICE_BASE_URL}\n" \
  "        api_key: sk-test\n" \
  "      retry: {max_attempts: 1}\n" \
  "  - parse: {correction_retries: 0}\n" \
  "  - validate: {correction_retries: 0}\n"

typedef struct
{
  int   status;
  char *out;
  char *err;
} Result;

static void
result_free (Result *result)
{
  g_free (result->out);
  g_free (result->err);
  g_free (result);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Result, result_free)

static char *
write_in_dir (const char *name,
              const char *contents)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (dir, name, NULL);

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
  return path;
}

static char *
write_pipeline (const char *name,
                const char *format_stage)
{
  g_autofree char *yaml = g_strconcat (HEAD, format_stage, NULL);

  return write_in_dir (name, yaml);
}

/* Runs `sluice ARGS…` in the test's folder, to its end. */
static Result *
run_cli (const char *first_arg,
         ...)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                                                       G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *state = g_build_filename (dir, "state", NULL);
  g_autofree char *base = g_strconcat (mock_url, "/v1", NULL);
  Result *result = g_new0 (Result, 1);
  va_list args;

  g_ptr_array_add (argv, (gpointer) g_getenv ("SLUICE_CLI"));
  va_start (args, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  g_subprocess_launcher_set_cwd (launcher, dir);
  g_subprocess_launcher_setenv (launcher, "SLUICE_STATE_DIR", state, TRUE);
  g_subprocess_launcher_setenv (launcher, "SLUICE_BASE_URL", base, TRUE);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &result->out, &result->err, &error);
  g_assert_no_error (error);
  result->status = g_subprocess_get_exit_status (process);
  if (strstr (result->err, "CRITICAL") != NULL || strstr (result->err, "Sanitizer") != NULL)
    g_error ("sluice wrote to stderr:\n%s", result->err);
  return result;
}

static void
assert_run (const char *format_stage,
            const char *input,
            const char *expected_stdout)
{
  g_autofree char *pipeline = write_pipeline ("run.yaml", format_stage);
  g_autoptr(Result) result = run_cli ("run", pipeline, "--input", input, NULL);

  g_test_message ("stderr: %s", result->err);
  g_assert_cmpint (result->status, ==, 0);
  g_assert_cmpstr (result->out, ==, expected_stdout);
}

/* A template's text is printed as it is, with one final newline. */
static void
test_run_template (void)
{
  assert_run ("  - format: {template: \"{{sentiment}} ({{confidence}})\"}\n",
              "{\"text\": \"plain-case\"}", "positive (0.9)\n");
  /* an optional field the answer lacks renders empty (strict is off) */
  assert_run ("  - format: {template: \"[{{detail.lang}}] {{sentiment}}\\n\"}\n",
              "{\"text\": \"plain-case\"}", "[] positive\n");
}

/* RFC 4180: the field with a comma, quotes and a line break is quoted and
 * its quotes doubled; the others are not; {{{name}}} is never escaped. */
static void
test_run_csv (void)
{
  assert_run ("  - format: {template: \"{{sentiment}},{{confidence}},{{reasoning}}\", escape: csv}\n",
              "{\"text\": \"quotes-case\"}",
              "negative,0.25,\"He said \"\"no\"\", twice\nthen <left>\"\n");
  assert_run ("  - format: {template: \"{{{reasoning}}}|{{detail.lang}}\", escape: csv}\n",
              "{\"text\": \"quotes-case\"}",
              "He said \"no\", twice\nthen <left>|en\n");
}

static void
test_run_html (void)
{
  assert_run ("  - format: {template: \"<p>{{reasoning}}</p>\", escape: html}\n",
              "{\"text\": \"quotes-case\"}",
              "<p>He said &quot;no&quot;, twice\nthen &lt;left&gt;</p>\n");
}

/* A projection prints JSON in the output's shape; a missing field is null. */
static void
test_run_projection (void)
{
  assert_run ("  - format: {fields: [detail.lang, sentiment]}\n",
              "{\"text\": \"quotes-case\"}", "{\"detail\":{\"lang\":\"en\"},\"sentiment\":\"negative\"}\n");
  assert_run ("  - format: {fields: [sentiment, detail.lang]}\n",
              "{\"text\": \"plain-case\"}", "{\"sentiment\":\"positive\",\"detail\":{\"lang\":null}}\n");
}

/* A template file, read relative to the pipeline, with a partial. */
static void
test_run_template_file (void)
{
  g_autofree char *row = write_in_dir ("row.mustache", "| {{sentiment}} | {{>why}} |\n");
  g_autofree char *why = write_in_dir ("why.mustache", "{{reasoning}}");

  assert_run ("  - format: {template_file: row.mustache, partials: {why: why.mustache}}\n",
              "{\"text\": \"plain-case\"}", "| positive | loved it |\n");
}

/* strict: a name the answer lacks fails the request, saying so. */
static void
test_run_strict (void)
{
  g_autofree char *pipeline = write_pipeline ("strict.yaml",
    "  - format: {template: \"{{sentiment}} {{detail.lang}}\", strict: true}\n");
  g_autoptr(Result) result = run_cli ("run", pipeline, "--input", "{\"text\": \"plain-case\"}", NULL);
  g_autoptr(JsonNode) root = sluice_json_from_string (result->out, -1, NULL);
  JsonObject *error;

  g_assert_cmpint (result->status, ==, 1);
  error = json_object_get_object_member (json_node_get_object (root), "error");
  g_assert_cmpstr (json_object_get_string_member (error, "stage"), ==, "format");
  g_assert_cmpstr (json_object_get_string_member (error, "message"), ==,
                   "the format template needs 'detail.lang', which the output does not have (line 1, column 15)");
}

/* A failed request prints its error as before: the format stage never ran. */
static void
test_run_failure (void)
{
  g_autofree char *pipeline = write_pipeline ("fail.yaml", "  - format: {template: \"{{sentiment}}\"}\n");
  g_autoptr(Result) result = run_cli ("run", pipeline, "--input", "{\"text\": \"broken-case\"}", NULL);
  g_autoptr(JsonNode) root = sluice_json_from_string (result->out, -1, NULL);
  JsonObject *error;

  g_assert_cmpint (result->status, ==, 1);
  g_assert_nonnull (root);
  error = json_object_get_object_member (json_node_get_object (root), "error");
  g_assert_cmpstr (json_object_get_string_member (error, "kind"), ==, "validation");
  g_assert_cmpstr (json_object_get_string_member (error, "stage"), ==, "validate");
}

/* Every input line ends as one output line: the structured output kept,
 * the formatted text beside it, errors unchanged. */
static void
test_batch (void)
{
  g_autofree char *pipeline = write_pipeline ("batch.yaml",
    "  - format: {template: \"{{sentiment}},{{reasoning}}\", escape: csv}\n");
  g_autofree char *input = write_in_dir ("in.jsonl",
    "{\"custom_id\": \"a\", \"input\": {\"text\": \"plain-case\"}}\n"
    "{\"custom_id\": \"b\", \"input\": {\"text\": \"broken-case\"}}\n"
    "{\"custom_id\": \"c\", \"input\": {\"text\": \"quotes-case\"}}\n");
  g_autofree char *output = g_build_filename (dir, "out.jsonl", NULL);
  g_autoptr(Result) result = run_cli ("batch", pipeline, input, "-o", output, "--quiet",
                                      "--concurrency", "1", NULL);
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  guint seen = 0;

  g_test_message ("stderr: %s", result->err);
  g_assert_true (g_file_get_contents (output, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 4);   /* three lines and the end */
  g_assert_cmpstr (lines[3], ==, "");
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(JsonNode) node = sluice_json_from_string (lines[i], -1, NULL);
      JsonObject *line = json_node_get_object (node);
      const char *id = json_object_get_string_member (line, "custom_id");

      if (g_str_equal (id, "a"))
        {
          g_assert_cmpstr (json_object_get_string_member (line, "formatted"), ==, "positive,loved it");
          g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (line, "output"),
                                                          "sentiment"), ==, "positive");
          g_assert_false (json_object_has_member (line, "error"));
        }
      else if (g_str_equal (id, "b"))
        {
          g_assert_false (json_object_has_member (line, "formatted"));
          g_assert_false (json_object_has_member (line, "output"));
          g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (line, "error"),
                                                          "kind"), ==, "validation");
        }
      else
        {
          g_assert_cmpstr (id, ==, "c");
          g_assert_cmpstr (json_object_get_string_member (line, "formatted"), ==,
                           "negative,\"He said \"\"no\"\", twice\nthen <left>\"");
          g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (line, "output"),
                                                          "reasoning"), ==, "He said \"no\", twice\nthen <left>");
        }
      seen |= 1u << (id[0] - 'a');
    }
  g_assert_cmpuint (seen, ==, 7);
}

/* Names the output schema does not declare are warnings at their place,
 * in the pipeline file and in a template file; the pipeline still loads. */
static void
test_check_warnings (void)
{
  g_autofree char *file = write_in_dir ("bad-names.mustache", "ok: {{sentiment}}\nbad: {{detail.langue}}\n");
  g_autofree char *pipeline = write_pipeline ("warn.yaml",
    "  - format: {template: \"{{sentimnt}} {{confidence}}\"}\n");
  g_autofree char *pipeline2 = write_pipeline ("warn2.yaml", "  - format: {template_file: bad-names.mustache}\n");
  g_autofree char *pipeline3 = write_pipeline ("warn3.yaml", "  - format: {fields: [sentiment, reasonin]}\n");
  g_autoptr(Result) result = run_cli ("check", pipeline, NULL);
  g_autoptr(Result) result2 = run_cli ("check", pipeline2, NULL);
  g_autoptr(Result) result3 = run_cli ("check", pipeline3, NULL);
  g_autofree char *out = g_strconcat (result->out, result->err, NULL);
  g_autofree char *out2 = g_strconcat (result2->out, result2->err, NULL);
  g_autofree char *out3 = g_strconcat (result3->out, result3->err, NULL);
  g_autofree char *expected = g_strdup_printf ("%s:26:25: warning: 'sentimnt' is not declared by the "
                                               "pipeline's output schema", pipeline);
  g_autofree char *expected2 = g_strdup_printf ("%s:2:6: warning: 'detail.langue' is not declared by the "
                                                "pipeline's output schema ('detail' has no property 'langue')",
                                                file);
  g_autofree char *expected3 = g_strdup_printf ("%s:26:34: warning: 'reasonin' is not declared by the "
                                                "pipeline's output schema", pipeline3);

  g_assert_cmpint (result->status, ==, 0);
  sluice_test_assert_contains (out, expected);
  g_assert_null (strstr (out, "confidence"));
  g_assert_cmpint (result2->status, ==, 0);
  sluice_test_assert_contains (out2, expected2);
  g_assert_null (strstr (out2, "'sentiment'"));
  g_assert_cmpint (result3->status, ==, 0);
  sluice_test_assert_contains (out3, expected3);
}

/* Errors with their place: before validate, a missing template file, a
 * tag left open (in the pipeline file and in a template file), escape
 * with fields. */
static void
test_check_errors (void)
{
  static const char *yaml =
    "name: order\n"
    "output: {type: object}\n"
    "stages:\n"
    "  - assemble: {user: hi}\n"
    "  - call: {target: {provider: openai, model: m, base_url: \"http://127.0.0.1:9/v1\", api_key: k}}\n"
    "  - parse: {}\n"
    "  - format: {template: \"{{x}}\"}\n"
    "  - validate: {}\n";
  g_autofree char *order = write_in_dir ("order.yaml", yaml);
  g_autofree char *open_file = write_in_dir ("open.mustache", "line one\n  {{#sentiment}}never closed\n");
  g_autofree char *missing = write_pipeline ("missing.yaml", "  - format: {template_file: nowhere.mustache}\n");
  g_autofree char *open_tag = write_pipeline ("open.yaml", "  - format: {template: \"x {{sentiment\"}\n");
  g_autofree char *open_in_file = write_pipeline ("open-file.yaml", "  - format: {template_file: open.mustache}\n");
  g_autofree char *escape = write_pipeline ("escape.yaml", "  - format: {fields: [sentiment], escape: csv}\n");
  struct { const char *path; const char *expected; } cases[] = {
    { order, ":7:5: error: stage 'format' must come after the validate stage (stage 5)" },
    { missing, ":26:29: error: template file nowhere.mustache: " },
    { open_tag, ":26:27: error: " },
    { open_in_file, "open.mustache:2:3: error: " },
    { escape, ":26:5: error: stage 'format': escape applies to a template: fields are printed as JSON" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(Result) result = run_cli ("check", cases[i].path, NULL);
      g_autofree char *out = g_strconcat (result->out, result->err, NULL);

      g_test_message ("%s", out);
      g_assert_cmpint (result->status, !=, 0);
      sluice_test_assert_contains (out, cases[i].expected);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *scenario = NULL;
  int status;

  g_test_init (&argc, &argv, NULL);
  /* Under the build tree's test-state folder (tools/run-tests clears it),
   * so a failed run keeps its files for a look. */
  g_assert_nonnull (g_getenv ("SLUICE_STATE_DIR"));
  g_assert_cmpint (g_mkdir_with_parents (g_getenv ("SLUICE_STATE_DIR"), 0700), ==, 0);
  dir = g_build_filename (g_getenv ("SLUICE_STATE_DIR"), "format-XXXXXX", NULL);
  g_assert_nonnull (g_mkdtemp (dir));
  scenario = write_in_dir ("scenario.json", SCENARIO);
  mock_url = sluice_test_mock_start ("--scenario", scenario, NULL);

  g_test_add_func ("/format/run/template", test_run_template);
  g_test_add_func ("/format/run/csv", test_run_csv);
  g_test_add_func ("/format/run/html", test_run_html);
  g_test_add_func ("/format/run/projection", test_run_projection);
  g_test_add_func ("/format/run/template-file", test_run_template_file);
  g_test_add_func ("/format/run/failure", test_run_failure);
  g_test_add_func ("/format/run/strict", test_run_strict);
  g_test_add_func ("/format/batch", test_batch);
  g_test_add_func ("/format/check/warnings", test_check_warnings);
  g_test_add_func ("/format/check/errors", test_check_errors);
  status = g_test_run ();

  sluice_test_mock_stop ();
  g_free (mock_url);
  g_free (dir);
  return status;
}
