/* test-mustache-spec.c — the Mustache spec's own tests, file by file
 *
 * Reads every JSON file of ../shared/testdata/mustache-spec/specs (or
 * $SLUICE_SHARED_TESTDATA/mustache-spec/specs) and runs every test with
 * HTML escaping on and the spec's lenient partials (an unknown partial is
 * empty, a partial may include itself), as the spec expects. Prints the
 * counts per file. Without the specs the program is skipped (77).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "sluice-private.h"
#include "sluice-mustache-private.h"

#include <string.h>

static char *specs_dir;

/* The spec's tests sluice does not pass, each with its reason. Any other
 * failure fails the test; a listed test that starts to pass fails it too,
 * so the list stays true. */
static const struct {
  const char *file;
  const char *name;   /* NULL: the whole file */
  const char *reason;
} known_skips[] = {
  { "~lambdas.json", NULL,
    "lambdas are code in the data; a pipeline's input is JSON and holds none" },
};

static const char *
skip_reason (const char *file,
             const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (known_skips); i++)
    if (g_str_equal (known_skips[i].file, file) &&
        (known_skips[i].name == NULL || g_str_equal (known_skips[i].name, name)))
      return known_skips[i].reason;
  return NULL;
}

static JsonNode *
load_json (const char *path)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

static gboolean
run_spec_test (JsonObject *test,
               char      **got)
{
  g_autoptr(SluiceMustacheLibrary) lib =
    sluice_mustache_library_new (SLUICE_MUSTACHE_ESCAPE_HTML | SLUICE_MUSTACHE_LENIENT_PARTIALS);
  g_autoptr(SluiceMustache) template = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func ((GDestroyNotify) sluice_mustache_problem_free);
  JsonNode *partials = json_object_get_member (test, "partials");

  if (partials != NULL)
    {
      JsonObjectIter iter;
      const char *name;
      JsonNode *text;

      json_object_iter_init (&iter, json_node_get_object (partials));
      while (json_object_iter_next (&iter, &name, &text))
        sluice_mustache_library_add_partial (lib, name, json_node_get_string (text), NULL);
    }
  template = sluice_mustache_compile (lib, json_object_get_string_member (test, "template"), problems);
  if (template == NULL)
    {
      g_autofree char *message = sluice_mustache_problems_to_message (problems, "template");

      *got = g_strdup_printf ("(compile error: %s)", message);
      return FALSE;
    }
  if (!sluice_mustache_render (template, json_object_get_member (test, "data"), out, &error))
    {
      *got = g_strdup_printf ("(render error: %s)", error->message);
      return FALSE;
    }
  *got = g_strdup (out->str);
  return g_str_equal (out->str, json_object_get_string_member (test, "expected"));
}

static void
test_spec_file (gconstpointer data)
{
  const char *file = data;
  g_autofree char *path = g_build_filename (specs_dir, file, NULL);
  g_autoptr(JsonNode) root = load_json (path);
  JsonArray *tests = json_object_get_array_member (json_node_get_object (root), "tests");
  guint passed = 0, skipped = 0, failed = 0;

  for (guint i = 0; i < json_array_get_length (tests); i++)
    {
      JsonObject *test = json_array_get_object_element (tests, i);
      const char *name = json_object_get_string_member (test, "name");
      const char *reason = skip_reason (file, name);
      g_autofree char *got = NULL;
      gboolean ok;

      if (reason != NULL && skip_reason (file, NULL) != NULL)
        {
          skipped++;
          continue;
        }
      ok = run_spec_test (test, &got);
      if (ok && reason == NULL)
        passed++;
      else if (!ok && reason != NULL)
        skipped++;
      else if (ok)
        {
          g_test_message ("%s: '%s' passes now: take it off the skip list", file, name);
          failed++;
        }
      else
        {
          g_autofree char *expected = g_strescape (json_object_get_string_member (test, "expected"), NULL);
          g_autofree char *shown = g_strescape (got, NULL);

          g_test_message ("%s: '%s' failed: expected \"%s\", got \"%s\"", file, name, expected, shown);
          failed++;
        }
    }
  g_test_message ("%s: %u of %u passed, %u skipped, %u failed", file, passed,
                  json_array_get_length (tests), skipped, failed);
  if (failed > 0)
    g_test_fail ();
}

static gint
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(char * const *) a, *(char * const *) b);
}

int
main (int    argc,
      char **argv)
{
  const char *shared = g_getenv ("SLUICE_SHARED_TESTDATA");
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_test_init (&argc, &argv, NULL);
  specs_dir = g_build_filename (shared != NULL ? shared : "../shared/testdata", "mustache-spec", "specs", NULL);
  dir = g_dir_open (specs_dir, 0, NULL);
  if (dir == NULL)
    {
      g_print ("1..0 # SKIP the Mustache spec is not there (%s); "
               "set SLUICE_SHARED_TESTDATA to the shared testdata folder\n", specs_dir);
      return 77;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".json"))
      g_ptr_array_add (files, g_strdup (name));
  g_ptr_array_sort (files, compare_names);
  for (guint i = 0; i < files->len; i++)
    {
      g_autofree char *path = g_strdup_printf ("/mustache-spec/%s", (char *) g_ptr_array_index (files, i));

      g_test_add_data_func (path, g_ptr_array_index (files, i), test_spec_file);
    }
  return g_test_run ();
}
