/* test-assemble.c — the assemble stage: messages in order (system,
 * few-shot turns, history from the input, user), partials from files
 * beside the pipeline, escaping, strictness, bad input, and what `sluice
 * check` says about templates, at their file:line:col.
 *
 * One-stage harness: a pipeline holding only assemble; the messages are
 * read from the context afterwards.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-private.h"
#include "sluice-test-util.h"

#include <string.h>
#include <sys/wait.h>

#include <glib/gstdio.h>

static SluiceEngine *engine;

/* A fresh folder holding the given files (name, contents, ..., NULL). */
static char *
make_dir (const char *first_name,
          ...)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("sluice-assemble-XXXXXX", &error);
  const char *name = first_name;
  va_list args;

  g_assert_no_error (error);
  va_start (args, first_name);
  while (name != NULL)
    {
      const char *contents = va_arg (args, const char *);
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *parent = g_path_get_dirname (path);

      g_mkdir_with_parents (parent, 0700);
      g_file_set_contents (path, contents, -1, &error);
      g_assert_no_error (error);
      name = va_arg (args, const char *);
    }
  va_end (args);
  return dir;
}

static void
remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  if (dir != NULL)
    g_dir_close (dir);
  g_rmdir (path);
}

static void
on_done (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  GError **error = user_data;

  sluice_pipeline_process_finish (SLUICE_PIPELINE (source), result, error);
  if (*error == NULL)
    *error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NONE, "done");
}

/* Runs input through the pipeline; returns the messages as compact JSON,
 * or NULL with the request's error. */
static char *
assemble (SluicePipeline *pipeline,
          const char     *input,
          GError        **error)
{
  g_autoptr(JsonNode) node = sluice_json_from_string (input, -1, NULL);
  g_autoptr(SluiceContext) context = sluice_context_new (node);
  g_autoptr(JsonNode) messages = NULL;
  GError *outcome = NULL;

  sluice_pipeline_process_async (pipeline, context, NULL, on_done, &outcome);
  while (outcome == NULL)
    g_main_context_iteration (NULL, TRUE);
  /* Alone, the stage's request ends without an answer: that is expected;
   * only the stage's own failures matter here. */
  if (outcome->domain == SLUICE_ERROR && (outcome->code == SLUICE_ERROR_INVALID_INPUT))
    {
      g_propagate_error (error, outcome);
      return NULL;
    }
  g_error_free (outcome);
  messages = json_node_init_array (json_node_alloc (), sluice_context_get_messages (context));
  return sluice_json_to_string (messages);
}

static SluicePipeline *
load (const char *dir,
      const char *yaml)
{
  g_autofree char *path = g_build_filename (dir, "pipeline.yaml", NULL);
  g_autoptr(GError) error = NULL;
  SluicePipeline *pipeline;

  g_file_set_contents (path, yaml, -1, &error);
  g_assert_no_error (error);
  pipeline = sluice_pipeline_new_from_file (engine, path, &error);
  g_assert_no_error (error);
  return pipeline;
}

static void
test_messages_in_order (void)
{
  g_autofree char *dir = make_dir ("prompts/rules.mustache", "- be brief\n- cite {{source}}\n", NULL);
  g_autoptr(SluicePipeline) pipeline = load (dir,
    "name: chat\n"
    "stages:\n"
    "  - assemble:\n"
    "      partials: {rules: prompts/rules.mustache}\n"
    "      system: |\n"
    "        You help with {{product}}. Rules:\n"
    "          {{>rules}}\n"
    "        {{#notes}}\n"
    "        Notes: {{notes}}\n"
    "        {{/notes}}\n"
    "      messages:\n"
    "        - {role: user, content: \"{{#example}}{{q}}{{/example}}\"}\n"
    "        - {role: assistant, content: \"{{#example}}{{a}}{{/example}}\"}\n"
    "      history: {from: chat.turns, last: 2}\n"
    "      user: \"{{question}}\"\n");
  g_autoptr(GError) error = NULL;
  g_autofree char *got = assemble (pipeline,
    "{\"product\": \"tea <pots>\", \"source\": \"the manual\", \"question\": \"And {{this}}?\","
    " \"example\": {\"q\": \"Q1\", \"a\": \"A1\"},"
    " \"chat\": {\"turns\": [{\"role\": \"user\", \"content\": \"old\"},"
    "                      {\"role\": \"user\", \"content\": \"hi {{product}}\"},"
    "                      {\"role\": \"assistant\", \"content\": \"hello\", \"name\": \"bot\"}]}}", &error);

  g_assert_no_error (error);
  /* No escaping by default; the history is inserted as it is, never
   * rendered; the notes section is gone with its lines. */
  g_assert_cmpstr (got, ==,
    "[{\"role\":\"system\",\"content\":\"You help with tea <pots>. Rules:\\n  - be brief\\n  - cite the manual\\n\"},"
    "{\"role\":\"user\",\"content\":\"Q1\"},{\"role\":\"assistant\",\"content\":\"A1\"},"
    "{\"role\":\"user\",\"content\":\"hi {{product}}\"},{\"role\":\"assistant\",\"content\":\"hello\"},"
    "{\"role\":\"user\",\"content\":\"And {{this}}?\"}]");

  /* Without the example and the history: those messages are left out. */
  g_clear_pointer (&got, g_free);
  got = assemble (pipeline, "{\"product\": \"tea\", \"source\": \"s\", \"question\": \"Q\", \"notes\": \"n\"}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got, ==,
    "[{\"role\":\"system\",\"content\":\"You help with tea. Rules:\\n  - be brief\\n  - cite s\\nNotes: n\\n\"},"
    "{\"role\":\"user\",\"content\":\"Q\"}]");
  remove_tree (dir);
}

static void
test_escape_and_strict (void)
{
  g_autofree char *dir = make_dir (NULL, NULL);
  g_autoptr(SluicePipeline) html = load (dir,
    "name: html\nstages:\n  - assemble: {escape: html, user: \"{{x}} {{{x}}}\"}\n");
  g_autoptr(SluicePipeline) strict = load (dir,
    "name: strict\nstages:\n  - assemble: {system: \"Hi\", user: \"{{a}}\\n{{b.c}}\"}\n");
  g_autoptr(SluicePipeline) lax = load (dir,
    "name: lax\nstages:\n  - assemble: {strict: false, user: \"[{{a}}|{{b.c}}]\"}\n");
  g_autoptr(GError) error = NULL;
  g_autofree char *got = assemble (html, "{\"x\": \"<b>&\"}", &error);

  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, "[{\"role\":\"user\",\"content\":\"&lt;b&gt;&amp; <b>&\"}]");

  g_clear_pointer (&got, g_free);
  got = assemble (strict, "{\"a\": 1, \"b\": {}}", &error);
  g_assert_null (got);
  g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT);
  g_assert_cmpstr (error->message, ==, "the user template needs 'b.c', which the input does not have (line 2, column 1)");
  g_clear_error (&error);

  got = assemble (lax, "{\"a\": {\"k\": [true, null, 2.5]}}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (got, ==, "[{\"role\":\"user\",\"content\":\"[{\\\"k\\\":[true,null,2.5]}|]\"}]");
  remove_tree (dir);
}

static void
test_bad_input (void)
{
  g_autofree char *dir = make_dir (NULL, NULL);
  g_autoptr(SluicePipeline) pipeline = load (dir,
    "name: bad\nstages:\n  - assemble:\n      max_bytes: 100\n"
    "      history: history\n      user: \"{{#items}}{{.}}{{/items}}\"\n");
  static const struct {
    const char *input;
    const char *message;
  } cases[] = {
    { "{\"history\": {\"role\": \"user\"}}", "history: 'history' must be an array of {role, content} messages" },
    { "{\"history\": [1]}", "history[0]: a message must be an object with role and content" },
    { "{\"history\": [{\"role\": \"tool\", \"content\": \"x\"}]}", "history[0].role: expected user, assistant or system" },
    { "{\"history\": [{\"role\": \"user\", \"content\": 5}]}", "history[0].content: expected a string" },
    { "{\"items\": [\"0123456789012345678901234567890123456789\", \"0123456789012345678901234567890123456789\","
      " \"0123456789012345678901234567890123456789\"]}",
      "the user template passes 100 bytes when rendered (line 1, column 11)" },
    { "{}", "every template rendered empty and there is no history: no message to send" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *got = assemble (pipeline, cases[i].input, &error);

      g_assert_null (got);
      g_assert_error (error, SLUICE_ERROR, SLUICE_ERROR_INVALID_INPUT);
      g_assert_cmpstr (error->message, ==, cases[i].message);
    }
  remove_tree (dir);
}

/* What `sluice check` prints for a pipeline file, one line per problem. */
static char *
check (const char *dir,
       const char *yaml)
{
  g_autofree char *path = g_build_filename (dir, "pipeline.yaml", NULL);
  g_autoptr(GPtrArray) diagnostics = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_diagnostic_free);
  g_autoptr(SluicePipeline) pipeline = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, yaml, -1, &error);
  g_assert_no_error (error);
  pipeline = _sluice_pipeline_load (engine, path, diagnostics);
  for (guint i = 0; i < diagnostics->len; i++)
    {
      g_autofree char *line = sluice_diagnostic_to_string (g_ptr_array_index (diagnostics, i));

      g_string_append_printf (out, "%s\n", line);
    }
  g_string_replace (out, dir, "DIR", 0);
  g_string_append (out, pipeline != NULL ? "loaded" : "refused");
  return g_strdup (out->str);
}

static void
test_check (void)
{
  g_autofree char *dir = make_dir ("p/header.mustache", "Header for {{text}} in {{lang}}\n",
                                   "p/broken.mustache", "ok\n  {{#open}}\n",
                                   "p/a.mustache", "A {{>b}}", "p/b.mustache", "B\n{{>a}}\n", NULL);
  g_autofree char *got = check (dir,
    "name: checked\n"
    "input:\n"
    "  type: object\n"
    "  properties:\n"
    "    text: {type: string}\n"
    "    turns: {type: array, items: {type: object, properties: {q: {}, a: {}}}}\n"
    "stages:\n"
    "  - assemble:\n"
    "      partials: {header: p/header.mustache, broken: p/broken.mustache,\n"
    "                 a: p/a.mustache, b: p/b.mustache, gone: p/gone.mustache}\n"
    "      system: |\n"
    "        {{>header}}\n"
    "        {{#turns}}\n"
    "        Q: {{q}} A: {{answer}}\n"
    "        {{/turns}}\n"
    "      messages:\n"
    "        - {role: user, content: \"{{>broken}} {{>a}}\"}\n"
    "        - {role: assistant, content: \"{{text}} {{#x}} and {{text}}\"}\n"
    "      user: \"{{text}} {{>nope}} {{tetx}}\"\n");

  g_assert_cmpstr (got, ==,
    "DIR/pipeline.yaml:10:58: error: partial 'gone': Failed to open file “DIR/p/gone.mustache”: No such file or directory\n"
    "DIR/p/broken.mustache:2:3: error: '#open' is never closed: add '{{/open}}' where it ends\n"
    "DIR/p/b.mustache:2:1: error: partial 'a' includes itself (a → b → a)\n"
    "DIR/pipeline.yaml:18:48: error: '#x' is never closed: add '{{/x}}' where it ends\n"
    "DIR/pipeline.yaml:19:23: error: no partial named 'nope' (declared: a, b, broken, gone, header)\n"
    "DIR/pipeline.yaml:19:33: warning: 'tetx' is not declared by the pipeline's input schema\n"
    "DIR/p/header.mustache:1:24: warning: 'lang' is not declared by the pipeline's input schema\n"
    "DIR/pipeline.yaml:14:21: warning: 'answer' is not declared by the pipeline's input schema\n"
    "refused");

  /* Warnings alone do not refuse a pipeline. */
  g_clear_pointer (&got, g_free);
  got = check (dir,
    "name: warned\n"
    "input: {type: object, properties: {text: {type: string}}}\n"
    "stages:\n"
    "  - assemble: {user: \"{\\\"q\\\": \\\"{{text}}\\\", \\\"x\\\": \\\"{{missing}}\\\"}\"}\n");
  g_assert_cmpstr (got, ==,
    "DIR/pipeline.yaml:4:54: warning: 'missing' is not declared by the pipeline's input schema\n"
    "loaded");

  /* A device is never read (it might never end), and a partial that
   * cannot be read is reported once, where it is declared. */
  g_clear_pointer (&got, g_free);
  got = check (dir,
    "name: devices\n"
    "stages:\n"
    "  - assemble: {partials: {z: /dev/zero, d: p}, user: \"{{>z}}{{>d}}\"}\n");
  g_assert_cmpstr (got, ==,
    "DIR/pipeline.yaml:3:30: error: partial 'z': /dev/zero is not a regular file\n"
    "DIR/pipeline.yaml:3:44: error: partial 'd': DIR/p is not a regular file\n"
    "refused");
  remove_tree (dir);
}

/* The command itself: the pipeline file's problems first, in file order,
 * then each partial file's; exit 1 for errors, 0 with warnings alone. */
static void
test_check_command (void)
{
  g_autofree char *dir = make_dir ("prompts/head.mustache", "{{#a}}\n{{b}\n",
                                   "pipeline.yaml",
                                   "name: cmd\n"
                                   "input: {type: object, properties: {text: {type: string}}}\n"
                                   "stages:\n"
                                   "  - assemble:\n"
                                   "      partials: {head: prompts/head.mustache}\n"
                                   "      system: \"{{>head}}\"\n"
                                   "      user: \"{{text}} {{txet}}\"\n",
                                   "good.yaml",
                                   "name: good\n"
                                   "input: {type: object, properties: {text: {type: string}}}\n"
                                   "stages:\n"
                                   "  - assemble: {user: \"{{text}} {{txet}}\"}\n", NULL);
  const char *argv[] = { g_getenv ("SLUICE_CLI"), "check", "pipeline.yaml", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  int status;

  g_assert_nonnull (argv[0]);
  g_spawn_sync (dir, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (err, ==,
                   "pipeline.yaml:7:23: warning: 'txet' is not declared by the pipeline's input schema\n"
                   "prompts/head.mustache:2:1: error: tag is not closed: no '}}' after '{{'\n");
  g_assert_cmpint (WEXITSTATUS (status), ==, 1);

  argv[2] = "good.yaml";
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_spawn_sync (dir, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (err, ==, "good.yaml:4:32: warning: 'txet' is not declared by the pipeline's input schema\n");
  g_assert_cmpstr (out, ==, "good.yaml: ok (pipeline 'good', 1 stage)\n");
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);
  remove_tree (dir);
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(SluiceEngine) owned = NULL;

  g_test_init (&argc, &argv, NULL);
  owned = engine = sluice_engine_new ();
  g_test_add_func ("/assemble/messages-in-order", test_messages_in_order);
  g_test_add_func ("/assemble/escape-and-strict", test_escape_and_strict);
  g_test_add_func ("/assemble/bad-input", test_bad_input);
  g_test_add_func ("/assemble/check", test_check);
  g_test_add_func ("/assemble/check-command", test_check_command);
  return g_test_run ();
}
